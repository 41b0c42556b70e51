#!/usr/bin/env bash
# Builds the sbf-lower pass plugin.
#   usage: build.sh LLVM_ROOT OUT_DIR      -> OUT_DIR/libsbf-lower.so
# LLVM_ROOT is an LLVM 22 install (bin/llvm-config, include/, lib/libLLVM.so).
# CXX may name the compiler (default clang++, else g++). One job, no cmake.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
llvm=${1:?usage: build.sh LLVM_ROOT OUT_DIR}
out=${2:?usage: build.sh LLVM_ROOT OUT_DIR}
mkdir -p "$out"
cxx=${CXX:-$(command -v clang++ || command -v g++)}
# llvm-config needs libLLVM from the same tree when it is not installed.
export LD_LIBRARY_PATH="$llvm/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cxxflags=$("$llvm/bin/llvm-config" --cxxflags)
# The plugin resolves LLVM symbols from the opt that loads it (libLLVM.so),
# so it links against nothing; -fno-rtti matches LLVM's own build.
# shellcheck disable=SC2086
"$cxx" -shared -fPIC -O2 -fno-rtti $cxxflags -Wall -Wno-unused-parameter \
  "$here/Plugin.cpp" "$here/Calls.cpp" "$here/Arith.cpp" "$here/Libcalls.cpp" \
  -o "$out/libsbf-lower.so"
echo "$out/libsbf-lower.so"
