; sret parameters ("functions with VarArgs or StructRet are not supported"),
; called directly and through a function pointer table.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

%Big = type { i64, i64, i64 }

@table = internal constant [1 x ptr] [ptr @make]

define internal void @make(ptr noalias sret(%Big) align 8 %r, i64 %a, i64 %b) noinline {
  store i64 %a, ptr %r
  %f1 = getelementptr %Big, ptr %r, i32 0, i32 1
  store i64 %b, ptr %f1
  %s = add i64 %a, %b
  %f2 = getelementptr %Big, ptr %r, i32 0, i32 2
  store i64 %s, ptr %f2
  ret void
}

define void @t_sret(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  call void @make(ptr sret(%Big) align 8 %out, i64 %a, i64 %b)
  %fp = load ptr, ptr @table
  %o = getelementptr i8, ptr %out, i64 24
  call void %fp(ptr sret(%Big) align 8 %o, i64 %b, i64 %a)
  ret void
}
