; Variable 128-bit shifts (the backend would call __ashlti3/__lshrti3/
; __ashrti3). Amounts are taken modulo 128 (larger ones are poison), from the
; low byte of the second slot; also an odd width.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define void @t_shifts128(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i128, ptr %in
  %s0 = load i128, ptr %p1
  %s = and i128 %s0, 127
  %l = shl i128 %a, %s
  %r = lshr i128 %a, %s
  %q = ashr i128 %a, %s
  store i128 %l, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %r, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 32
  store i128 %q, ptr %o2
  ret void
}

; Amounts near the 64-bit boundary: the low byte of slot 2 modulo 8, plus 60.
define void @t_shifts128_mid(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 32
  %a = load i128, ptr %in
  %s0 = load i8, ptr %p1
  %s1 = and i8 %s0, 7
  %s2 = add i8 %s1, 60
  %s = zext i8 %s2 to i128
  %l = shl i128 %a, %s
  %r = lshr i128 %a, %s
  %q = ashr i128 %a, %s
  store i128 %l, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %r, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 32
  store i128 %q, ptr %o2
  ret void
}

define void @t_shifts72(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i72, ptr %in
  %s0 = load i72, ptr %p1
  %s = urem i72 %s0, 72
  %l = shl i72 %a, %s
  %r = lshr i72 %a, %s
  %q = ashr i72 %a, %s
  store i72 %l, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i72 %r, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 32
  store i72 %q, ptr %o2
  ret void
}
