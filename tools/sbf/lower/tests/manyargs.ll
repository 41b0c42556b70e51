; Calls needing more than five argument registers ("too many args",
; "defined with too many args"): counted in registers (an i128 takes two, a
; first-class struct one per element), for direct calls, calls through a
; vtable and through a function pointer passed as a value, combined with an
; i128 return (whose out pointer takes a register too), and with an i128
; that straddles the four-register boundary.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

@vtable = internal constant [2 x ptr] [ptr @six, ptr @six_alt]

; 6 registers.
define internal i64 @six(i64 %a, i64 %b, i64 %c, i64 %d, i64 %e, i64 %f) noinline {
  %b2 = shl i64 %b, 1
  %c3 = mul i64 %c, 3
  %d5 = mul i64 %d, 5
  %e7 = mul i64 %e, 7
  %f11 = mul i64 %f, 11
  %1 = add i64 %a, %b2
  %2 = add i64 %1, %c3
  %3 = add i64 %2, %d5
  %4 = add i64 %3, %e7
  %5 = add i64 %4, %f11
  ret i64 %5
}

define internal i64 @six_alt(i64 %a, i64 %b, i64 %c, i64 %d, i64 %e, i64 %f) noinline {
  %1 = xor i64 %a, %f
  %2 = sub i64 %1, %e
  %3 = xor i64 %2, %d
  %4 = sub i64 %3, %c
  %5 = xor i64 %4, %b
  ret i64 %5
}

; 1+2+1+1+2+1+1 = 9 registers, plus the out pointer of the i128 return.
define internal i128 @mixed(i8 zeroext %a, i128 %b, ptr %p, i32 signext %c, i128 %d, double %e, i16 %f) noinline {
  %a1 = zext i8 %a to i128
  %v = load i64, ptr %p
  %v1 = zext i64 %v to i128
  %c1 = sext i32 %c to i128
  %e0 = bitcast double %e to i64
  %e1 = zext i64 %e0 to i128
  %f1 = zext i16 %f to i128
  %1 = add i128 %a1, %b
  %2 = xor i128 %1, %v1
  %3 = add i128 %2, %c1
  %4 = sub i128 %3, %d
  %5 = xor i128 %4, %e1
  %6 = add i128 %5, %f1
  ret i128 %6
}

; Three i64s, then an i128 that would take registers 4 and 5: it goes to the
; stack struct along with the rest.
define internal i64 @straddle(i64 %a, i64 %b, i64 %c, i128 %d, i64 %e) noinline {
  %d0 = trunc i128 %d to i64
  %dh = lshr i128 %d, 64
  %d1 = trunc i128 %dh to i64
  %1 = sub i64 %a, %b
  %2 = xor i64 %1, %c
  %3 = add i64 %2, %d0
  %4 = xor i64 %3, %d1
  %5 = sub i64 %4, %e
  ret i64 %5
}

; A first parameter too big for the four kept registers.
define internal i64 @bigfirst({ i64, i64, i64, i64, i64 } %s, i64 %x) noinline {
  %a = extractvalue { i64, i64, i64, i64, i64 } %s, 0
  %e = extractvalue { i64, i64, i64, i64, i64 } %s, 4
  %1 = sub i64 %a, %e
  %2 = xor i64 %1, %x
  ret i64 %2
}

define internal i64 @call_it(ptr %f, i64 %x, i64 %y) noinline {
  %r = call i64 %f(i64 %x, i64 %y, i64 %x, i64 %y, i64 %x, i64 %y)
  ret i64 %r
}

define void @t_manyargs(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %p2 = getelementptr i8, ptr %in, i64 32
  %p3 = getelementptr i8, ptr %in, i64 48
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %c = load i64, ptr %p2
  %w = load i128, ptr %p3
  %r1 = call i64 @six(i64 %a, i64 %b, i64 %c, i64 %a, i64 %b, i64 %c)
  store i64 %r1, ptr %out
  %sel = and i64 %c, 1
  %slot = getelementptr [2 x ptr], ptr @vtable, i64 0, i64 %sel
  %f = load ptr, ptr %slot
  %r2 = call i64 %f(i64 %c, i64 %b, i64 %a, i64 %c, i64 %b, i64 %a)
  %o1 = getelementptr i8, ptr %out, i64 8
  store i64 %r2, ptr %o1
  %r3 = call i64 @call_it(ptr @six_alt, i64 %a, i64 %b)
  %o2 = getelementptr i8, ptr %out, i64 16
  store i64 %r3, ptr %o2
  %a8 = trunc i64 %a to i8
  %c32 = trunc i64 %c to i32
  %bd = bitcast i64 %b to double
  %b16 = trunc i64 %b to i16
  %aw = zext i64 %a to i128
  %r4 = call i128 @mixed(i8 zeroext %a8, i128 %w, ptr %p1, i32 signext %c32, i128 %aw, double %bd, i16 %b16)
  %o3 = getelementptr i8, ptr %out, i64 32
  store i128 %r4, ptr %o3
  %r5 = call i64 @straddle(i64 %a, i64 %b, i64 %c, i128 %w, i64 %a)
  %o4 = getelementptr i8, ptr %out, i64 24
  store i64 %r5, ptr %o4
  %s1 = insertvalue { i64, i64, i64, i64, i64 } poison, i64 %a, 0
  %s2 = insertvalue { i64, i64, i64, i64, i64 } %s1, i64 %c, 4
  %r6 = call i64 @bigfirst({ i64, i64, i64, i64, i64 } %s2, i64 %b)
  %o5 = getelementptr i8, ptr %out, i64 48
  store i64 %r6, ptr %o5
  ret void
}
