; Float lowering when the module already defines a runtime routine, with
; its own type: compiler-builtins' comparisons return i64 on BPF, where
; compiler-rt's return int. The calls must use the definition's type.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

declare i64 @host_gedf2(double, double)

define internal i64 @__gedf2(double %a, double %b) noinline {
  %r = call i64 @host_gedf2(double %a, double %b)
  ret i64 %r
}

define void @t_fcmp_rt(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load double, ptr %in
  %b = load double, ptr %p1
  %c1 = fcmp oge double %a, %b
  %c2 = fcmp ult double %a, %b
  %c3 = fcmp ule double %a, %b
  store i1 %c1, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 1
  store i1 %c2, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 2
  store i1 %c3, ptr %o2
  ret void
}
