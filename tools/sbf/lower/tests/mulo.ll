; Overflow-checked multiplies (Rust's checked_mul / overflowing_mul) on i64
; and i128: llvm.{u,s}mul.with.overflow, which expand to __multi3 on BPF.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define void @t_umulo64(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %r = call { i64, i1 } @llvm.umul.with.overflow.i64(i64 %a, i64 %b)
  %v = extractvalue { i64, i1 } %r, 0
  %o = extractvalue { i64, i1 } %r, 1
  store i64 %v, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 8
  store i1 %o, ptr %o1
  ret void
}

define void @t_smulo64(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %r = call { i64, i1 } @llvm.smul.with.overflow.i64(i64 %a, i64 %b)
  %v = extractvalue { i64, i1 } %r, 0
  %o = extractvalue { i64, i1 } %r, 1
  store i64 %v, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 8
  store i1 %o, ptr %o1
  ret void
}

define void @t_umulo128(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i128, ptr %in
  %b = load i128, ptr %p1
  %r = call { i128, i1 } @llvm.umul.with.overflow.i128(i128 %a, i128 %b)
  %v = extractvalue { i128, i1 } %r, 0
  %o = extractvalue { i128, i1 } %r, 1
  store i128 %v, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i1 %o, ptr %o1
  ret void
}

define void @t_smulo128(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i128, ptr %in
  %b = load i128, ptr %p1
  %r = call { i128, i1 } @llvm.smul.with.overflow.i128(i128 %a, i128 %b)
  %v = extractvalue { i128, i1 } %r, 0
  %o = extractvalue { i128, i1 } %r, 1
  store i128 %v, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i1 %o, ptr %o1
  ret void
}

; Small operands: products near the overflow boundaries come from sign- and
; zero-extended 64-bit and 32-bit values more often than from random ones.
define void @t_mulo128_small(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a64 = load i64, ptr %in
  %b64 = load i64, ptr %p1
  %as = sext i64 %a64 to i128
  %a = shl i128 %as, 63
  %b = sext i64 %b64 to i128
  %r = call { i128, i1 } @llvm.smul.with.overflow.i128(i128 %a, i128 %b)
  %v = extractvalue { i128, i1 } %r, 0
  %o = extractvalue { i128, i1 } %r, 1
  store i128 %v, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i1 %o, ptr %o1
  %az = zext i64 %a64 to i128
  %ah = shl i128 %az, 64
  %bz = zext i64 %b64 to i128
  %u = call { i128, i1 } @llvm.umul.with.overflow.i128(i128 %ah, i128 %bz)
  %uv = extractvalue { i128, i1 } %u, 0
  %uo = extractvalue { i128, i1 } %u, 1
  %o2 = getelementptr i8, ptr %out, i64 32
  store i128 %uv, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 48
  store i1 %uo, ptr %o3
  ret void
}
