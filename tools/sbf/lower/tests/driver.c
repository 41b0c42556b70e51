/* Host-side differential test driver for the sbf-lower tests (see run.sh).
 *
 * Every test function has the shape void t_NAME(const u8 in[64], u8 out[64]).
 * run.sh compiles each tests/*.ll twice for the host: as lowered by the pass
 * (symbols t_NAME) and unlowered (renamed ref_NAME), and generates tests.h
 * listing them. This driver feeds both the same inputs (four 16-byte slots,
 * read by the tests as i128, i64, i32, i8 or double from the start of a slot)
 * and fails if any output byte differs.
 *
 * It also provides the soft-float routines the lowered float test calls
 * (x86-64 has hardware floating point, so libgcc lacks them), with
 * compiler-rt's semantics, computed with the host's own arithmetic.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(const uint8_t *in, uint8_t *out);
struct test {
  const char *name;
  test_fn lowered, ref;
};
#include "tests.h" /* static const struct test TESTS[]; */

/* ---- soft-float routines (compiler-rt names and semantics) ---- */
#define BIN(name, T, op)                                                       \
  T name(T a, T b) { return a op b; }
BIN(__adddf3, double, +) BIN(__subdf3, double, -) BIN(__muldf3, double, *)
BIN(__divdf3, double, /) BIN(__addsf3, float, +) BIN(__subsf3, float, -)
BIN(__mulsf3, float, *) BIN(__divsf3, float, /)
/* __le/__lt/__eq/__ne: -1, 0, 1, and 1 when unordered.
 * __ge/__gt: -1, 0, 1, and -1 when unordered. */
#define CMP(sfx, T)                                                            \
  static int cmp_##sfx(T a, T b, int unord) {                                  \
    if (isnan(a) || isnan(b)) return unord;                                    \
    return a < b ? -1 : a > b ? 1 : 0;                                         \
  }                                                                            \
  int __le##sfx##2(T a, T b) { return cmp_##sfx(a, b, 1); }                    \
  int __lt##sfx##2(T a, T b) { return cmp_##sfx(a, b, 1); }                    \
  int __eq##sfx##2(T a, T b) { return cmp_##sfx(a, b, 1); }                    \
  int __ne##sfx##2(T a, T b) { return cmp_##sfx(a, b, 1); }                    \
  int __ge##sfx##2(T a, T b) { return cmp_##sfx(a, b, -1); }                   \
  int __gt##sfx##2(T a, T b) { return cmp_##sfx(a, b, -1); }                   \
  int __unord##sfx##2(T a, T b) { return isnan(a) || isnan(b); }
CMP(df, double) CMP(sf, float)
/* float_rt.ll's own __gedf2, returning i64 like compiler-builtins' on BPF. */
int64_t host_gedf2(double a, double b) { return cmp_df(a, b, -1); }
double __extendsfdf2(float a) { return a; }
float __truncdfsf2(double a) { return (float)a; }
/* Conversions are only called with in-range values by the tests, except
 * from the saturating expansion, which discards out-of-range results; keep
 * those defined here anyway. */
#define FIX(name, F, I, lo, hi)                                                \
  I name(F a) { return (a != a || a < (lo) || a >= (hi)) ? 0 : (I)a; }
FIX(__fixdfsi, double, int32_t, -2147483648.0, 2147483648.0)
FIX(__fixdfdi, double, int64_t, -9223372036854775808.0, 9223372036854775808.0)
FIX(__fixunsdfsi, double, uint32_t, -0.99999, 4294967296.0)
FIX(__fixunsdfdi, double, uint64_t, -0.99999, 18446744073709551616.0)
FIX(__fixsfsi, float, int32_t, -2147483648.0f, 2147483648.0f)
FIX(__fixsfdi, float, int64_t, -9223372036854775808.0f, 9223372036854775808.0f)
FIX(__fixunssfsi, float, uint32_t, -0.99999f, 4294967296.0f)
FIX(__fixunssfdi, float, uint64_t, -0.99999f, 18446744073709551616.0f)
double __floatsidf(int32_t a) { return a; }
double __floatdidf(int64_t a) { return a; }
double __floatunsidf(uint32_t a) { return a; }
double __floatundidf(uint64_t a) { return a; }
float __floatsisf(int32_t a) { return a; }
float __floatdisf(int64_t a) { return a; }
float __floatunsisf(uint32_t a) { return a; }
float __floatundisf(uint64_t a) { return a; }
/* __floattidf, __floatuntidf and __powidf2 come from the host's libgcc
 * (defining them here would recurse: the host compiles them to themselves). */

/* ---- inputs ---- */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dULL;
}

#define M64 0xffffffffffffffffULL
#define H63 0x8000000000000000ULL
/* Edge values of a slot, as {low limb, high limb}: zero, one, small, the
 * 2^32 and 2^64 boundaries (the division fast paths), i8/i32/i64/i128
 * minimum and maximum, -1, -2, values with only the high limb set, and
 * doubles (read from the low limb by the float test). */
static const uint64_t EDGES[][2] = {
    {0, 0}, {1, 0}, {2, 0}, {3, 0}, {7, 0}, {10, 0}, {0x7f00, 0},
    {0x8000, 0}, {0xff00, 0}, {0x7fffffff, 0}, {0x80000000, 0},
    {0xffffffff, 0}, {0x100000000ULL, 0}, {0x100000001ULL, 0},
    {0xfffffffeffffffffULL, 0}, {H63 - 1, 0}, {H63, 0}, {H63 + 1, 0},
    {M64, 0}, {M64 - 1, 0}, {0, 1}, {1, 1}, {M64, 1}, {0, 0xffffffff},
    {0, 0x100000000ULL}, {0, H63}, {1, H63}, {M64, H63 - 1}, {0, H63 - 1},
    {M64, M64}, {M64 - 1, M64}, {0, M64}, {H63, M64}, {H63 - 1, 0},
    {0xffffffff00000000ULL, M64}, {0x123456789abcdef0ULL, 0x0fedcba987654321ULL},
    /* doubles: 1, -1, 0.5, -0, inf, -inf, nan, 2^63, 2^64, -2^63, 1e10,
     * -1.5, 3.7, 2^31, 0.9999, max finite, smallest subnormal */
    {0x3ff0000000000000ULL, 0}, {0xbff0000000000000ULL, 0},
    {0x3fe0000000000000ULL, 0}, {0x8000000000000000ULL, 0},
    {0x7ff0000000000000ULL, 0}, {0xfff0000000000000ULL, 0},
    {0x7ff8000000000000ULL, 0}, {0x43e0000000000000ULL, 0},
    {0x43f0000000000000ULL, 0}, {0xc3e0000000000000ULL, 0},
    {0x4202a05f20000000ULL, 0}, {0xbff8000000000000ULL, 0},
    {0x400d99999999999aULL, 0}, {0x41e0000000000000ULL, 0},
    {0x3feffff2e48e8a72ULL, 0}, {0x7fefffffffffffffULL, 0}, {1, 0},
};
#define NEDGES (sizeof EDGES / sizeof EDGES[0])

static void put(uint8_t *slot, uint64_t lo, uint64_t hi) {
  memcpy(slot, &lo, 8);
  memcpy(slot + 8, &hi, 8);
}

/* A random slot of one of several shapes. */
static void random_slot(uint8_t *slot) {
  uint64_t r = next(), lo = next(), hi = next();
  unsigned k = next() % 128;
  switch (r % 10) {
  case 0: hi = 0; break;                                    /* < 2^64 */
  case 1: hi = 0; lo >>= next() % 64; break;                /* small */
  case 2: lo = k < 64 ? 1ULL << k : 0; hi = k < 64 ? 0 : 1ULL << (k - 64);
          break;                                            /* 2^k */
  case 3: lo = k < 64 ? (1ULL << k) - 1 : M64;
          hi = k < 64 ? 0 : (1ULL << (k - 64)) - 1; break;  /* 2^k - 1 */
  case 4: hi = (int64_t)lo < 0 ? M64 : 0; break;            /* sext i64 */
  case 5: hi >>= next() % 64; break;                        /* hi limb set */
  case 6: lo = ~(lo >> (next() % 64)); hi = M64; break;     /* small < 0 */
  case 7: { double d = (double)(int64_t)lo / (double)(1 + (hi >> 40));
            memcpy(&lo, &d, 8); break; }                    /* a double */
  case 8: { double d = ldexp((double)(lo >> 11), (int)(hi % 160) - 80);
            memcpy(&lo, &d, 8); break; }                    /* a double */
  default: break;                                           /* anything */
  }
  put(slot, lo, hi);
}

static int run(const struct test *t, const uint8_t *in, long *fails) {
  uint8_t a[64], b[64];
  memset(a, 0xa5, sizeof a);
  memset(b, 0xa5, sizeof b);
  t->lowered(in, a);
  t->ref(in, b);
  if (memcmp(a, b, 64) == 0)
    return 0;
  if (++*fails <= 5) {
    printf("MISMATCH %s\n  in: ", t->name);
    for (int i = 0; i < 64; i++) printf("%02x%s", in[i], i % 16 == 15 ? " " : "");
    printf("\n  lowered: ");
    for (int i = 0; i < 64; i++) printf("%02x%s", a[i], i % 16 == 15 ? " " : "");
    printf("\n  ref:     ");
    for (int i = 0; i < 64; i++) printf("%02x%s", b[i], i % 16 == 15 ? " " : "");
    printf("\n");
  }
  return 1;
}

int main(void) {
  long total = 0, fails = 0;
  const long RANDOM = 4000;
  for (const struct test *t = TESTS; t->name; t++) {
    long cases = 0, bad = 0;
    uint8_t in[64];
    /* Every pair of edge values in the first two slots, with the other two
     * slots random. */
    for (size_t i = 0; i < NEDGES; i++)
      for (size_t j = 0; j < NEDGES; j++) {
        put(in, EDGES[i][0], EDGES[i][1]);
        put(in + 16, EDGES[j][0], EDGES[j][1]);
        random_slot(in + 32);
        random_slot(in + 48);
        bad += run(t, in, &fails);
        cases++;
      }
    /* Random slots, each sometimes an edge value. */
    for (long n = 0; n < RANDOM; n++) {
      for (int s = 0; s < 4; s++) {
        if (next() % 4 == 0) {
          const uint64_t *e = EDGES[next() % NEDGES];
          put(in + 16 * s, e[0], e[1]);
        } else {
          random_slot(in + 16 * s);
        }
      }
      bad += run(t, in, &fails);
      cases++;
    }
    printf("%-32s %6ld cases %s\n", t->name, cases, bad ? "FAIL" : "ok");
    total += cases;
  }
  printf("%ld cases, %ld mismatches\n", total, fails);
  return fails != 0;
}
