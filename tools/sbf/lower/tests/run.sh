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
#    (edge-case pairs and random values); any difference fails the run.
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
names=()
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
  ok=1
  for extra in "" -bpf-expand-memcpy-in-order; do
    if ! "$llc" -march=bpfel -mcpu=v1 -bpf-stack-size=4096 $extra -filetype=obj "$work/$n.bc" \
         -o "$work/$n.o" 2>"$work/$n.llc"; then
      fail "$n: llc -march=bpfel -mcpu=v1 $extra refused the lowered IR:"
      head -20 "$work/$n.llc"; ok=0
    fi
  done
  [ $ok = 1 ] && echo "ok   $n (lowered IR compiles for bpfel v1)"
  if grep -q '^define void @t_' "$t"; then
    "$llvm/bin/llvm-dis" "$work/$n.bc" -o - | host_ir >"$work/$n.low.ll"
    sed 's/@t_/@ref_/g' "$t" | host_ir >"$work/$n.ref.ll"
    for v in low ref; do
      "$llc" -O1 -relocation-model=pic -filetype=obj "$work/$n.$v.ll" \
        -o "$work/$n.$v.o" || fail "$n: host llc ($v)"
      objs+=("$work/$n.$v.o")
    done
    names+=($(sed -n 's/^define void @t_\([A-Za-z0-9_]*\)(.*/\1/p' "$t"))
  fi
done

# Differential run on the host.
{
  for x in "${names[@]}"; do
    echo "void t_$x(const uint8_t *, uint8_t *);"
    echo "void ref_$x(const uint8_t *, uint8_t *);"
  done
  echo "static const struct test TESTS[] = {"
  for x in "${names[@]}"; do echo "  {\"$x\", t_$x, ref_$x},"; done
  echo "  {0, 0, 0}};"
} >"$work/tests.h"
if "$cc" -O1 -fno-builtin -I"$work" "$here/driver.c" "${objs[@]}" -lm \
     -o "$work/driver" 2>"$work/cc.err"; then
  if ! "$work/driver"; then fail "host differential test"; fi
else
  fail "building the host driver:"; cat "$work/cc.err"
fi

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all tests passed"
