; 128-bit udiv/urem/sdiv/srem (libcalls __udivti3 etc.) and signed division at
; 8..64 bits (no signed divide on BPF v1). Divisors are sanitized so that every
; input is defined: 0 -> 1, and MIN / -1 -> MIN / 1.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define void @t_udiv128(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i128, ptr %in
  %b0 = load i128, ptr %p1
  %z = icmp eq i128 %b0, 0
  %b = select i1 %z, i128 1, i128 %b0
  %q = udiv i128 %a, %b
  %r = urem i128 %a, %b
  store i128 %q, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %r, ptr %o1
  ret void
}

define void @t_sdiv128(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i128, ptr %in
  %b0 = load i128, ptr %p1
  %z = icmp eq i128 %b0, 0
  %b1 = select i1 %z, i128 1, i128 %b0
  %amin = icmp eq i128 %a, -170141183460469231731687303715884105728
  %bm1 = icmp eq i128 %b1, -1
  %ovf = and i1 %amin, %bm1
  %b = select i1 %ovf, i128 1, i128 %b1
  %q = sdiv i128 %a, %b
  %r = srem i128 %a, %b
  store i128 %q, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %r, ptr %o1
  ret void
}

; Divisors that are constants (the backend would otherwise use wide multiplies).
define void @t_div128_const(ptr %in, ptr %out) {
  %a = load i128, ptr %in
  %q = udiv i128 %a, 1000000000
  %r = urem i128 %a, 10000
  %s = sdiv i128 %a, -7
  %t = srem i128 %a, 18446744073709551629
  store i128 %q, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %r, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 32
  store i128 %s, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 48
  store i128 %t, ptr %o3
  ret void
}

define void @t_sdiv64(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b0 = load i64, ptr %p1
  %z = icmp eq i64 %b0, 0
  %b1 = select i1 %z, i64 1, i64 %b0
  %amin = icmp eq i64 %a, -9223372036854775808
  %bm1 = icmp eq i64 %b1, -1
  %ovf = and i1 %amin, %bm1
  %b = select i1 %ovf, i64 1, i64 %b1
  %q = sdiv i64 %a, %b
  %r = srem i64 %a, %b
  %c = sdiv i64 %a, 10
  %d = srem i64 %a, -3
  store i64 %q, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 8
  store i64 %r, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 16
  store i64 %c, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 24
  store i64 %d, ptr %o3
  ret void
}

define void @t_sdiv32(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i32, ptr %in
  %b0 = load i32, ptr %p1
  %z = icmp eq i32 %b0, 0
  %b1 = select i1 %z, i32 1, i32 %b0
  %amin = icmp eq i32 %a, -2147483648
  %bm1 = icmp eq i32 %b1, -1
  %ovf = and i1 %amin, %bm1
  %b = select i1 %ovf, i32 1, i32 %b1
  %q = sdiv i32 %a, %b
  %r = srem i32 %a, %b
  store i32 %q, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 4
  store i32 %r, ptr %o1
  ; 8 bits, from the second byte of each operand
  %p2 = getelementptr i8, ptr %in, i64 1
  %p3 = getelementptr i8, ptr %in, i64 17
  %x = load i8, ptr %p2
  %y0 = load i8, ptr %p3
  %yz = icmp eq i8 %y0, 0
  %y1 = select i1 %yz, i8 1, i8 %y0
  %xmin = icmp eq i8 %x, -128
  %ym1 = icmp eq i8 %y1, -1
  %o8 = and i1 %xmin, %ym1
  %y = select i1 %o8, i8 1, i8 %y1
  %q8 = sdiv i8 %x, %y
  %r8 = srem i8 %x, %y
  %o2 = getelementptr i8, ptr %out, i64 8
  store i8 %q8, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 9
  store i8 %r8, ptr %o3
  ret void
}

; An odd width (96 bits) is widened to 128.
define void @t_div96(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i96, ptr %in
  %b0 = load i96, ptr %p1
  %z = icmp eq i96 %b0, 0
  %b = select i1 %z, i96 3, i96 %b0
  %q = udiv i96 %a, %b
  %r = urem i96 %a, %b
  store i96 %q, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 16
  store i96 %r, ptr %o1
  ret void
}
