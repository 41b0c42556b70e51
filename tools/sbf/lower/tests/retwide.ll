; Return values that do not fit r0: i128 ("unable to allocate function
; return", "only small returns supported") and aggregates ("only integer
; returns supported"), from definitions with several returns, called
; directly, through a vtable, and through a function pointer passed as a
; value to a function that itself returns an i128.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

@vtable = internal constant [2 x ptr] [ptr @add128, ptr @sub128]

define internal i128 @add128(i128 %a, i64 %b) noinline {
  %z = zext i64 %b to i128
  %s = add i128 %a, %z
  ret i128 %s
}

define internal i128 @sub128(i128 %a, i64 %b) noinline {
  %neg = icmp slt i128 %a, 0
  br i1 %neg, label %n, label %p
n:
  ret i128 %a
p:
  %z = zext i64 %b to i128
  %s = sub i128 %a, %z
  ret i128 %s
}

define internal i128 @apply(ptr %f, i128 %x, i64 %y) noinline {
  %r = call i128 %f(i128 %x, i64 %y)
  %r2 = call i128 %f(i128 %r, i64 1)
  ret i128 %r2
}

define internal { i64, i64 } @pair(i64 %a, i64 %b) noinline {
  %1 = insertvalue { i64, i64 } poison, i64 %b, 0
  %2 = insertvalue { i64, i64 } %1, i64 %a, 1
  ret { i64, i64 } %2
}

define internal [3 x i32] @triple(i32 %a) noinline {
  %b = add i32 %a, 1
  %c = mul i32 %a, 3
  %1 = insertvalue [3 x i32] poison, i32 %a, 0
  %2 = insertvalue [3 x i32] %1, i32 %b, 1
  %3 = insertvalue [3 x i32] %2, i32 %c, 2
  ret [3 x i32] %3
}

define internal { i64 } @one(i64 %a) noinline {
  %1 = insertvalue { i64 } poison, i64 %a, 0
  ret { i64 } %1
}

define void @t_retwide(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %p2 = getelementptr i8, ptr %in, i64 32
  %a = load i128, ptr %in
  %b = load i64, ptr %p1
  %sel = load i8, ptr %p2
  %i1 = and i8 %sel, 1
  %i = zext i8 %i1 to i64
  %r1 = call i128 @add128(i128 %a, i64 %b)
  store i128 %r1, ptr %out
  %slot = getelementptr [2 x ptr], ptr @vtable, i64 0, i64 %i
  %f = load ptr, ptr %slot
  %r2 = call i128 %f(i128 %a, i64 %b)
  %o1 = getelementptr i8, ptr %out, i64 16
  store i128 %r2, ptr %o1
  %r3 = call i128 @apply(ptr @sub128, i128 %a, i64 %b)
  %o2 = getelementptr i8, ptr %out, i64 32
  store i128 %r3, ptr %o2
  ret void
}

define void @t_retagg(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %pr = call { i64, i64 } @pair(i64 %a, i64 %b)
  %x = extractvalue { i64, i64 } %pr, 0
  %y = extractvalue { i64, i64 } %pr, 1
  store i64 %x, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 8
  store i64 %y, ptr %o1
  %a32 = trunc i64 %a to i32
  %t = call [3 x i32] @triple(i32 %a32)
  %t0 = extractvalue [3 x i32] %t, 0
  %t1 = extractvalue [3 x i32] %t, 1
  %t2 = extractvalue [3 x i32] %t, 2
  %o2 = getelementptr i8, ptr %out, i64 16
  store i32 %t0, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 20
  store i32 %t1, ptr %o3
  %o4 = getelementptr i8, ptr %out, i64 24
  store i32 %t2, ptr %o4
  %s = call { i64 } @one(i64 %b)
  %s0 = extractvalue { i64 } %s, 0
  %o5 = getelementptr i8, ptr %out, i64 32
  store i64 %s0, ptr %o5
  ret void
}
