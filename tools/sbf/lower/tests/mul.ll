; 128-bit multiply (the backend would call __multi3), including the common
; widening u64 x u64 -> u128 and an odd width widened to 128.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define void @t_mul128(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i128, ptr %in
  %b = load i128, ptr %p1
  %m = mul i128 %a, %b
  store i128 %m, ptr %out
  %c = mul nuw nsw i128 %a, 1000000007
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %c, ptr %o1
  ret void
}

define void @t_mul_widen(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %x = zext i64 %a to i128
  %y = zext i64 %b to i128
  %m = mul nuw i128 %x, %y
  store i128 %m, ptr %out
  %sx = sext i64 %a to i128
  %sy = sext i64 %b to i128
  %s = mul nsw i128 %sx, %sy
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %s, ptr %o1
  ret void
}

define void @t_mul96(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i96, ptr %in
  %b = load i96, ptr %p1
  %m = mul i96 %a, %b
  store i96 %m, ptr %out
  ret void
}
