; byval arguments ("pass by value not supported"): the callee modifies its
; copy, which must not reach the caller's object.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

%S = type { i64, i64, i64, i64 }

define internal i64 @takes(ptr byval(%S) align 8 %s) noinline {
  %a = load i64, ptr %s
  %p3 = getelementptr %S, ptr %s, i32 0, i32 3
  %d = load i64, ptr %p3
  %x = add i64 %a, %d
  store i64 %x, ptr %s
  %y = load i64, ptr %s
  ret i64 %y
}

define void @t_byval(ptr %in, ptr %out) {
  %r = call i64 @takes(ptr byval(%S) align 8 %in)
  store i64 %r, ptr %out
  %a = load i64, ptr %in
  %o1 = getelementptr i8, ptr %out, i64 8
  store i64 %a, ptr %o1
  ret void
}
