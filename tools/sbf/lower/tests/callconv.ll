; Calling conventions other than C and fast ("Unsupported calling
; convention"), as rustc may emit for cold functions.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define internal coldcc i64 @cold(i64 %a, i64 %b) noinline cold {
  %x = xor i64 %a, %b
  ret i64 %x
}

define internal preserve_mostcc i64 @pm(i64 %a) noinline {
  %x = add i64 %a, 1
  ret i64 %x
}

define void @t_callconv(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %r = call coldcc i64 @cold(i64 %a, i64 %b)
  %s = call preserve_mostcc i64 @pm(i64 %r)
  store i64 %s, ptr %out
  ret void
}
