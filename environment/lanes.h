// Lane-wise double arithmetic for SIMD across households (GCC vector
// extensions): the follower kernel solves L household-days at once, one per
// lane (household_solver.h).
//
// Determinism (DESIGN §4). Everything here is a fixed sequence of IEEE-754
// basic operations (+, -, *, /, comparisons, selects), explicit fused
// multiply-adds (Fma: one rounding, the same on every instruction set) and
// integer bit operations, applied to each lane on its own. Nothing is fused
// implicitly (ISO C++ mode compiles with -ffp-contract=off, and the kernel's
// compile flags say so explicitly), nothing is reassociated, there are no
// lookup tables and no libm calls except fma(). A lane's result therefore does
// not depend on the lane count L, on the other lanes' values, or on the
// instruction set the code was compiled for (SSE2, AVX2 + FMA or AVX-512);
// household_solver_test proves it bit for bit.
//
// Exp and Log are polynomial approximations checked against libm in
// lanes_test: |relative error| < 1e-15 over the ranges the kernel uses.
#ifndef SMFG_ENVIRONMENT_LANES_H_
#define SMFG_ENVIRONMENT_LANES_H_

#include <cstdint>

// Vector types wider than the baseline ISA change the calling convention of
// non-inlined functions; every function here is always inlined, so the
// warning is moot.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

#define SMFG_LANES_INLINE inline __attribute__((always_inline))

namespace smfg::env::lanes {

template <int L>
struct Vec {
  static_assert(L >= 1 && (L & (L - 1)) == 0, "lane count must be a power of two");
  typedef double D __attribute__((vector_size(8 * L)));
  typedef int64_t I __attribute__((vector_size(8 * L)));
};

template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Broadcast(double x) {
  typename Vec<L>::D v;
  for (int i = 0; i < L; ++i) v[i] = x;
  return v;
}

template <int L>
SMFG_LANES_INLINE typename Vec<L>::I BroadcastInt(int64_t x) {
  typename Vec<L>::I v;
  for (int i = 0; i < L; ++i) v[i] = x;
  return v;
}

// mask ? a : b, lane by lane (mask lanes are all ones or all zeros).
template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Select(typename Vec<L>::I mask, typename Vec<L>::D a,
                                            typename Vec<L>::D b) {
  return mask ? a : b;
}

template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Max(typename Vec<L>::D a, typename Vec<L>::D b) {
  return a > b ? a : b;
}

template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Min(typename Vec<L>::D a, typename Vec<L>::D b) {
  return a < b ? a : b;
}

template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Abs(typename Vec<L>::D a) {
  return a < 0.0 ? -a : a;
}

// a * b + c rounded once (fused multiply-add), lane by lane. Fused where the
// caller asks for it and nowhere else, so it is the same operation on every
// instruction set: AVX-512 and AVX2 + FMA use the hardware instruction; the
// baseline (SSE2) lanes call fma(), which IEEE 754 and C require to round
// once too (glibc computes it exactly in software where the CPU cannot).
// Only the 8-lane form must be inlined into AVX-512 code and the 4-lane form
// into AVX2 + FMA code.
template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Fma(typename Vec<L>::D a, typename Vec<L>::D b,
                                         typename Vec<L>::D c) {
  {
    typename Vec<L>::D r;
    for (int i = 0; i < L; ++i) r[i] = __builtin_fma(a[i], b[i], c[i]);
    return r;
  }
}

// OR / AND of the two halves of a mask (extract and combine, no lane loop).
template <int L>
SMFG_LANES_INLINE typename Vec<L / 2>::I OrHalves(typename Vec<L>::I m) {
  typename Vec<L / 2>::I lo, hi;
  __builtin_memcpy(&lo, &m, sizeof lo);
  __builtin_memcpy(&hi, reinterpret_cast<const char*>(&m) + sizeof lo, sizeof hi);
  return lo | hi;
}
template <int L>
SMFG_LANES_INLINE typename Vec<L / 2>::I AndHalves(typename Vec<L>::I m) {
  typename Vec<L / 2>::I lo, hi;
  __builtin_memcpy(&lo, &m, sizeof lo);
  __builtin_memcpy(&hi, reinterpret_cast<const char*>(&m) + sizeof lo, sizeof hi);
  return lo & hi;
}

template <int L>
SMFG_LANES_INLINE bool AnySet(typename Vec<L>::I mask) {
  if constexpr (L == 1) {
    return mask[0] != 0;
  } else {
    return AnySet<L / 2>(OrHalves<L>(mask));
  }
}

template <int L>
SMFG_LANES_INLINE bool AllSet(typename Vec<L>::I mask) {
  if constexpr (L == 1) {
    return mask[0] != 0;
  } else {
    return AllSet<L / 2>(AndHalves<L>(mask));
  }
}

// Bit reinterpretation (GCC vector casts between equal sizes keep the bits).
template <int L>
SMFG_LANES_INLINE typename Vec<L>::I Bits(typename Vec<L>::D x) {
  return (typename Vec<L>::I)x;
}
template <int L>
SMFG_LANES_INLINE typename Vec<L>::D FromBits(typename Vec<L>::I x) {
  return (typename Vec<L>::D)x;
}

namespace internal {
// 1.5 * 2^52: adding it to |t| < 2^51 rounds t to an integer held in the low
// mantissa bits (round to nearest even), without an int conversion
// instruction (SSE2 has none for 64-bit lanes).
constexpr double kRoundMagic = 6755399441055744.0;
constexpr int64_t kRoundMagicBits = 0x4338000000000000LL;
// ln 2 split so that k * kLn2Hi is exact for |k| < 2^11 (fdlibm's split).
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kInvLn2 = 1.44269504088896338700e+00;
constexpr double kSqrt2 = 1.41421356237309514547e+00;
}  // namespace internal

// e^x for x in [-708, 709] (the kernel uses [-40, 0]). x = k ln2 + r with
// k = round(x / ln2), |r| <= ln2 / 2; e^r by its Taylor polynomial of degree
// 12 (truncation < 1.7e-16 relative), scaled by 2^k built in the exponent bits.
template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Exp(typename Vec<L>::D x) {
  using D = typename Vec<L>::D;
  using I = typename Vec<L>::I;
  const D t = x * internal::kInvLn2 + internal::kRoundMagic;
  const D k = t - internal::kRoundMagic;
  const D r =
      Fma<L>(-k, Broadcast<L>(internal::kLn2Lo), Fma<L>(-k, Broadcast<L>(internal::kLn2Hi), x));
  D p = Broadcast<L>(1.0 / 479001600.0);  // 1/12!
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 39916800.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 3628800.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 362880.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 40320.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 5040.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 720.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 120.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 24.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0 / 6.0));
  p = Fma<L>(p, r, Broadcast<L>(0.5));
  p = Fma<L>(p, r, Broadcast<L>(1.0));
  p = Fma<L>(p, r, Broadcast<L>(1.0));
  const I ki = Bits<L>(t) - internal::kRoundMagicBits;
  const D scale = FromBits<L>((ki + 1023) << 52);
  return p * scale;
}

// Natural log for positive normal x. x = 2^e f with f in [sqrt(1/2), sqrt(2)),
// log f = 2 atanh(s) with s = (f - 1) / (f + 1), |s| < 0.1716, by its series
// to s^21 (truncation < 3e-18 relative); log x = e ln2 + log f.
template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Log(typename Vec<L>::D x) {
  using D = typename Vec<L>::D;
  using I = typename Vec<L>::I;
  const I bits = Bits<L>(x);
  I e = ((bits >> 52) & 0x7ff) - 1023;
  D f = FromBits<L>((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  const I big = f > internal::kSqrt2;
  f = big ? f * 0.5 : f;
  e = e - big;  // big lanes are -1: e + 1
  const D s = (f - 1.0) / (f + 1.0);
  const D y = s * s;
  // sum_{k=0}^{10} y^k / (2k + 1) by Estrin's scheme: the same terms as
  // Horner's rule with a third of its dependency chain (the kernel's sweep
  // waits on this log once per state and hour).
  const D y2 = y * y;
  const D y4 = y2 * y2;
  const D y8 = y4 * y4;
  auto c = [](double v) __attribute__((always_inline)) { return Broadcast<L>(v); };
  const D e0 = Fma<L>(y, c(1.0 / 3.0), c(1.0));
  const D e1 = Fma<L>(y, c(1.0 / 7.0), c(1.0 / 5.0));
  const D e2 = Fma<L>(y, c(1.0 / 11.0), c(1.0 / 9.0));
  const D e3 = Fma<L>(y, c(1.0 / 15.0), c(1.0 / 13.0));
  const D e4 = Fma<L>(y, c(1.0 / 19.0), c(1.0 / 17.0));
  const D f0 = Fma<L>(y2, e1, e0);
  const D f1 = Fma<L>(y2, e3, e2);
  const D f2 = Fma<L>(y2, c(1.0 / 21.0), e4);
  const D p = Fma<L>(y8, f2, Fma<L>(y4, f1, f0));
  const D log_f = (s + s) * p;
  // e as a double, exactly (|e| < 2^51), by the same magic-number trick.
  const D ed = FromBits<L>(e + internal::kRoundMagicBits) - internal::kRoundMagic;
  return ed * internal::kLn2Hi + (ed * internal::kLn2Lo + log_f);
}

}  // namespace smfg::env::lanes

#pragma GCC diagnostic pop

#endif  // SMFG_ENVIRONMENT_LANES_H_
