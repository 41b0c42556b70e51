#!/usr/bin/env bash
# Tests of the sbf-lower plugin.
#   usage: tests/run.sh [LLVM_ROOT [PLUGIN.so]]
# LLVM_ROOT defaults to $SBF_LLVM_ROOT, else the project's unpacked LLVM 22;
# without PLUGIN.so the plugin is built into a temporary directory.
#
# For every tests/*.ll:
#  - err_*.ll: opt with the plugin must fail, printing the text of the file's
#    "; EXPECT-ERROR: ..." line;
#  - others: the unlowered file must be refused by llc -march=bpfel -mcpu=v1
#    (so that the test exercises something); opt with the plugin must succeed
#    and its output must compile with llc -march=bpfel -mcpu=v1
#    -bpf-stack-size=4096 (sBPF's frame size), with and without
#    -bpf-expand-memcpy-in-order (sbpf-linker's default);
#  - functions named t_* (void (ptr in, ptr out)) are compiled for the host
#    both lowered and unlowered and compared on the same inputs by driver.c
#    (edge-case pairs and random values); any difference fails the run;
#  - the same through llc's own plugin hook: llc -load-pass-plugin=PLUGIN
#    on the unlowered file must compile it;
#  - divrem.ll is also lowered with the alternative pipeline that lets LLVM's
#    expand-ir-insts expand the 128-bit divisions ($ALT_PIPELINE), and
#    checked the same way.
# If SBF_REAL_BC names a whole program's bitcode, it is lowered too and must
# compile with llc -march=bpfel -mcpu=v1 -bpf-stack-size=4097 (see README.md
# for 4097), with and without -bpf-expand-memcpy-in-order.
# Exits non-zero on any failure.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
llvm=${1:-${SBF_LLVM_ROOT:-$HOME/.cache/chainference/sbf/root/usr/lib/llvm-22}}
export LD_LIBRARY_PATH="$llvm/lib:$llvm/../x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sbf-lower-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
plugin=${2:-}
if [ -z "$plugin" ]; then
  "$here/../build.sh" "$llvm" "$work" >/dev/null
  plugin=$work/libsbf-lower.so
fi
PIPELINE='function(lower-atomic),sbf-lower'
ALT_PIPELINE='require<libcall-lowering-info>,function(lower-atomic,expand-ir-insts<O2>),sbf-lower'
ALT_FLAGS=-expand-div-rem-bits=64
ALT_TESTS=" divrem "
opt=("$llvm/bin/opt" "-load-pass-plugin=$plugin")
llc=$llvm/bin/llc
cc=${CC:-cc}

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
host_ir() { # module on stdin -> host module on stdout
  sed -e '/^target datalayout/d' \
      -e 's/^target triple = .*/target triple = "x86_64-unknown-linux-gnu"/'
}

objs=()
entries=() # "label lowered-symbol reference-symbol"
for t in "$here"/*.ll; do
  n=$(basename "$t" .ll)
  if [[ $n == err_* ]]; then
    want=$(sed -n 's/^; EXPECT-ERROR: //p' "$t")
    if "${opt[@]}" -passes="$PIPELINE" "$t" -o /dev/null 2>"$work/$n.err"; then
      fail "$n: opt accepted it"
    elif ! grep -qF -- "$want" "$work/$n.err"; then
      fail "$n: error does not mention '$want':"; cat "$work/$n.err"
    else
      echo "ok   $n (rejected: $want)"
    fi
    continue
  fi
  # (in a subshell with stderr closed: llc may abort on these, and the shell
  # would report it)
  rc=$(exec 2>/dev/null; "$llc" -march=bpfel -mcpu=v1 -filetype=obj "$t" -o /dev/null; echo $?)
  if [ "$rc" = 0 ]; then
    fail "$n: llc accepts it unlowered; the test exercises nothing"
  fi
  if ! "${opt[@]}" -passes="$PIPELINE" "$t" -o "$work/$n.bc" 2>"$work/$n.err"; then
    fail "$n: opt failed:"; cat "$work/$n.err"; continue
  fi
  variants=(low)
  if [[ $ALT_TESTS == *" $n "* ]]; then
    if "${opt[@]}" $ALT_FLAGS -passes="$ALT_PIPELINE" "$t" -o "$work/$n.alt.bc" \
         2>"$work/$n.err"; then
      variants+=(alt)
    else
      fail "$n: opt (alternative pipeline) failed:"; cat "$work/$n.err"
    fi
  fi
  for v in "${variants[@]}"; do
    bc=$work/$n.bc; [ $v = alt ] && bc=$work/$n.alt.bc
    ok=1
    for extra in "" -bpf-expand-memcpy-in-order; do
      if ! "$llc" -march=bpfel -mcpu=v1 -bpf-stack-size=4096 $extra -filetype=obj \
           "$bc" -o "$work/$n.o" 2>"$work/$n.llc"; then
        fail "$n ($v): llc -march=bpfel -mcpu=v1 $extra refused the lowered IR:"
        head -20 "$work/$n.llc"; ok=0
      fi
    done
    [ $ok = 1 ] && echo "ok   $n ($v: lowered IR compiles for bpfel v1)"
  done
  if "$llc" -load-pass-plugin="$plugin" -march=bpfel -mcpu=v1 -bpf-stack-size=4096 \
       -filetype=obj "$t" -o "$work/$n.o" 2>"$work/$n.llc"; then
    echo "ok   $n (llc -load-pass-plugin compiles it unlowered)"
  else
    fail "$n: llc -load-pass-plugin refused it:"; head -20 "$work/$n.llc"
  fi
  if grep -q '^define void @t_' "$t"; then
    sed 's/@t_/@ref_/g' "$t" | host_ir >"$work/$n.ref.ll"
    "$llvm/bin/llvm-dis" "$work/$n.bc" -o - | host_ir >"$work/$n.low.ll"
    if [[ " ${variants[*]} " == *" alt "* ]]; then
      "$llvm/bin/llvm-dis" "$work/$n.alt.bc" -o - | sed 's/@t_/@alt_/g' |
        host_ir >"$work/$n.alt.ll"
    fi
    for v in ref "${variants[@]}"; do
      "$llc" -O1 -relocation-model=pic -filetype=obj "$work/$n.$v.ll" \
        -o "$work/$n.$v.o" || fail "$n: host llc ($v)"
      objs+=("$work/$n.$v.o")
    done
    for x in $(sed -n 's/^define void @t_\([A-Za-z0-9_]*\)(.*/\1/p' "$t"); do
      entries+=("$x t_$x ref_$x")
      [[ " ${variants[*]} " == *" alt "* ]] &&
        entries+=("$x(expand-ir-insts) alt_$x ref_$x")
    done
  fi
done

# Differential run on the host.
{
  for e in "${entries[@]}"; do
    read -r label low ref <<<"$e"
    echo "void $low(const uint8_t *, uint8_t *);"
    echo "void $ref(const uint8_t *, uint8_t *);"
  done
  echo "static const struct test TESTS[] = {"
  for e in "${entries[@]}"; do
    read -r label low ref <<<"$e"
    echo "  {\"$label\", $low, $ref},"
  done
  echo "  {0, 0, 0}};"
} >"$work/tests.h"
if "$cc" -O1 -fno-builtin -I"$work" "$here/driver.c" "${objs[@]}" -lm \
     -o "$work/driver" 2>"$work/cc.err"; then
  if ! "$work/driver"; then fail "host differential test"; fi
else
  fail "building the host driver:"; cat "$work/cc.err"
fi

if [ -n "${SBF_REAL_BC:-}" ]; then
  if "${opt[@]}" -passes="$PIPELINE" "$SBF_REAL_BC" -o "$work/real.bc" 2>"$work/real.err"; then
    for extra in "" -bpf-expand-memcpy-in-order; do
      if "$llc" -march=bpfel -mcpu=v1 -bpf-stack-size=4097 $extra -filetype=obj \
           "$work/real.bc" -o "$work/real.o" 2>"$work/real.llc"; then
        echo "ok   $SBF_REAL_BC (lowered, compiles for bpfel v1 $extra)"
      else
        fail "$SBF_REAL_BC: llc $extra refused the lowered program:"
        grep error "$work/real.llc" | head -20
      fi
    done
  else
    fail "$SBF_REAL_BC: opt failed:"; head -20 "$work/real.err"
  fi
fi

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all tests passed"
