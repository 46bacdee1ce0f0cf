#include "environment/household_solver.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "environment/lanes.h"
#include "environment/markov_chain.h"

// Lane vectors cross no non-inlined function boundary by value (lanes.h).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace smfg::env {
namespace {

using lanes::Vec;

constexpr double kInf = std::numeric_limits<double>::infinity();
// The reward of an action beyond the power limit ($): far below any real
// reward, so its softmax weight is cut off, yet finite (see SetRewards).
constexpr double kInfeasibleReward = -1e30;
constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
// Newton's method stops when the policy swept from the evaluated values differs
// from the evaluated policy by at most this in every probability ...
constexpr double kPolicyTolerance = 1e-10;
// ... or by what double precision can resolve: the values carry a relative
// error of a few tens of ulps (the linear solve), and the policy divides them by
// tau. 128 eps max|V| / tau is 1.7e-10 at the default (V ~ 60 $, tau = 0.01 $).
constexpr double kRoundoffFactor = 128 * kEpsilon;
// tau = 0: a greedy policy may cycle among ties; values within this are optimal
// for every purpose the argmax solve serves (exploitability).
constexpr double kArgmaxResidual = 1e-9;
constexpr int kMaxPolicyIterations = 60;
// Softmax weights below exp(-40) = 4e-18 are set to exactly zero: they are
// under 1/50 of an ulp of the probabilities they are summed with.
constexpr double kMinLogWeight = -40.0;
// The sweep's shifted weights (see Sweep) stay above e^-640 for every weight
// that is not cut off, far from underflow (e^-708); exponents are clamped at
// -700 before exp, which only ever touches weights that are then discarded.
constexpr double kMaxWeightShift = 600.0;
constexpr double kMaxExpArgument = 700.0;
// Relative slack on the power limit, so that a limit met exactly in decimal
// (e.g. 4.75 kWh per step / 0.95 = 5 kW) is not lost to rounding.
constexpr double kPowerSlack = 1e-12;
// 8-lane buffers above this (very fine SoC grids) fall back to one lane; the
// results are identical either way.
constexpr size_t kMaxBlockBytes = size_t{8} << 20;

// std::allocator does not honour the 64-byte alignment of 8-lane vectors
// (GCC drops the vector type's alignment in template arguments), and the
// AVX code paths use aligned loads.
template <typename T>
struct LaneAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  LaneAllocator() = default;
  template <typename U>
  LaneAllocator(const LaneAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const LaneAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const LaneAllocator<U>&) const {
    return false;
  }
};
template <typename T>
using LaneVector = std::vector<T, LaneAllocator<T>>;

// Storage of the band of actions allowed by the SoC bounds: for state s the
// actions a in [lo(s), hi(s)), a = k + K.
struct Band {
  int S = 0, K = 0, A = 0, size = 0;
  std::vector<int> lo, hi, off;
  explicit Band(const FollowerParams& p)
      : S(p.soc_levels), K(p.max_soc_steps_per_hour), A(2 * K + 1) {
    for (int s = 0; s < S; ++s) {
      lo.push_back(std::max(0, K - s));
      hi.push_back(std::min(A, S - s + K));
      off.push_back(size);
      size += hi.back() - lo.back();
    }
  }
  size_t BlockBytes(int lanes) const {
    const size_t per_lane = 2 * kHoursPerDay * static_cast<size_t>(size) +
                            4 * kHoursPerDay * static_cast<size_t>(S) +
                            5 * static_cast<size_t>(S) * S + 3 * kHoursPerDay * A;
    return per_lane * lanes * sizeof(double);
  }
};

// Dimensions of the SoC grid seen by the loops: compile-time constants for
// the default grid (11 levels, 3 steps), so that the compiler can unroll the
// short loops and keep a row of B in registers, and the Band otherwise. The
// two run the same operations in the same order, so they give the same bits.
struct DynamicGrid {
  static constexpr bool kStatic = false;
  static constexpr int kS = 1, kA = 1;  // unused
  explicit DynamicGrid(const Band& b) : band(b) {}
  int S() const { return band.S; }
  int K() const { return band.K; }
  int A() const { return band.A; }
  int Lo(int s) const { return band.lo[s]; }
  int Hi(int s) const { return band.hi[s]; }
  int Off(int s) const { return band.off[s]; }
  int Size() const { return band.size; }
  const Band& band;
};

template <int kLevels, int kSteps>
struct StaticGrid {
  static constexpr bool kStatic = true;
  static constexpr int kS = kLevels, kK = kSteps, kA = 2 * kSteps + 1;
  explicit StaticGrid(const Band&) {}
  static constexpr int S() { return kS; }
  static constexpr int K() { return kK; }
  static constexpr int A() { return kA; }
  static constexpr int Lo(int s) { return s < kK ? kK - s : 0; }
  static constexpr int Hi(int s) { return kS - s + kK < kA ? kS - s + kK : kA; }
  static constexpr std::array<int, kS + 1> MakeOffsets() {
    std::array<int, kS + 1> off{};
    for (int s = 0; s < kS; ++s) off[s + 1] = off[s] + Hi(s) - Lo(s);
    return off;
  }
  static constexpr std::array<int, kS + 1> kOff = MakeOffsets();
  static int Off(int s) { return kOff[s]; }
  static constexpr int Size() { return kOff[kS]; }
};
using DefaultGrid = StaticGrid<11, 3>;

// f(integral_constant<int, i>) for i = 0 .. N-1, unrolled at compile time.
template <typename F, int... kI>
SMFG_LANES_INLINE void StaticForImpl(F& f, std::integer_sequence<int, kI...>) {
  (f(std::integral_constant<int, kI>{}), ...);
}
template <int N, typename F>
SMFG_LANES_INLINE void StaticFor(F& f) {
  StaticForImpl(f, std::make_integer_sequence<int, N>{});
}

// State of one block of L lanes. Arrays hold one L-vector per entry; the
// comments give the index layout.
template <int L>
struct Kernel {
  using D = typename Vec<L>::D;
  using I = typename Vec<L>::I;
  static constexpr int kWidth = L;

  Kernel(const FollowerParams& p, const Band& b)
      : params(p),
        band(b),
        S(b.S),
        K(b.K),
        A(b.A),
        gamma(p.discount_per_hour),
        gamma_day(std::pow(p.discount_per_hour, kHoursPerDay)),
        power(A),
        ok(A),
        reward(kHoursPerDay * A),
        reward_belief(kHoursPerDay * A),
        er(kHoursPerDay * A),
        rho(kHoursPerDay),
        ev(S),
        xh(b.size),
        wh(b.size),
        zh(S),
        mh(S),
        ch(S),
        base(kHoursPerDay),
        rate(kHoursPerDay),
        credit(kHoursPerDay),
        pi(kHoursPerDay * b.size),
        pis(kHoursPerDay * b.size),
        R(kHoursPerDay * S),
        Rs(kHoursPerDay * S),
        R2(kHoursPerDay * S),
        v0(S),
        va(S),
        vb(S),
        v_eval(S),
        v_eval2(S),
        v_belief(S),
        v_src(S),
        Bn(S * S),
        Bc(S * S),
        M(S * S),
        lin(S * S),
        Wn(S),
        Wc(S),
        Wn2(S),
        Wc2(S),
        q(A),
        mu(S),
        fa(S),
        fb(S),
        m_lane(S * S),
        mu_lane(S) {}

  FollowerParams params;
  const Band& band;
  int S, K, A;
  double gamma, gamma_day;
  int n = 0;  // lanes in use
  I used{};   // all ones in lanes < n
  D step_kwh{};
  LaneVector<D> power;               // [a] grid-side kW
  LaneVector<I> ok;                  // [a] within the power limit
  LaneVector<D> reward;              // [h][a], -inf where not ok
  LaneVector<D> reward_belief;       // exploitability: rewards under the belief
  LaneVector<D> er;                  // [h][a] exp((r - rho_h) / tau)
  LaneVector<D> rho;                 // [h] max_a r(h, a)
  LaneVector<D> ev;                  // [s] sweep scratch
  LaneVector<D> xh, wh;              // [band] sweep scratch of one hour
  LaneVector<D> zh, mh, ch;          // [s] sweep scratch of one hour
  LaneVector<D> base, rate, credit;  // [h]
  LaneVector<D> pi, pis;             // [h][band]: accepted and swept policy
  LaneVector<D> R, Rs, R2;           // [h][s]: regularised reward of pi, pis
  LaneVector<D> v0, va, vb;          // [s]: V_0 of pi; sweep buffers
  LaneVector<D> v_eval, v_eval2;     // [s]: evaluation results
  LaneVector<D> v_belief;            // [s]: exploitability warm start
  LaneVector<D> v_src;               // [s]: the values pi was swept from
  LaneVector<D> Bn, Bc, M, lin;      // [s][s']
  LaneVector<D> Wn, Wc, Wn2, Wc2;    // [s]
  LaneVector<D> q;                   // [a] sweep scratch (runtime grids)
  LaneVector<D> mu, fa, fb;          // [s] distributions
  int iterations[L] = {};
  bool converged[L] = {};
  int classes[L] = {};
  std::vector<double> m_lane, mu_lane;  // one lane's M and mu
};

// Grid-side power (kW) of a move of `steps` SoC grid steps, and whether it is
// within the battery's power limit.
double MovePower(const BatterySpec& b, int soc_levels, int steps) {
  const double stored = steps * (b.capacity_kwh / (soc_levels - 1));
  return steps > 0 ? stored / b.charge_efficiency : stored * b.discharge_efficiency;
}
bool WithinPowerLimit(const BatterySpec& b, double power_kw) {
  return std::fabs(power_kw) <= b.power_kw * (1.0 + kPowerSlack);
}

template <int L>
void InitBatteries(Kernel<L>& k, const BatterySpec* batteries, int n) {
  using D = typename Kernel<L>::D;
  k.n = n;
  for (int l = 0; l < L; ++l) {
    const BatterySpec& b = batteries[l < n ? l : 0];
    k.step_kwh[l] = b.capacity_kwh / (k.S - 1);
    k.used[l] = l < n ? -1 : 0;
    for (int a = 0; a < k.A; ++a) {
      const double p = MovePower(b, k.S, a - k.K);
      k.power[a][l] = p;
      k.ok[a][l] = WithinPowerLimit(b, p) ? -1 : 0;
    }
  }
  for (auto* v : {&k.v0, &k.v_belief, &k.v_src, &k.pi, &k.R, &k.M}) {
    std::fill(v->begin(), v->end(), D{});
  }
}

// The reward of a move drawing `p` kW on the grid side in an hour whose net
// load without the battery is `base` kWh: minus the bill (imports at the rate,
// exports at the credit) and the wear. One formula for a block's lanes
// (SetRewards, D a lane vector) and for one sampled household (SampleDay, D =
// double): the same operations, so the same bits.
template <typename D>
SMFG_LANES_INLINE D MoveReward(D base, D rate, D credit, D p, double wear) {
  const D net = base + p;
  const D bill = net > 0.0 ? rate * net : credit * net;
  return -(bill + wear * (p < 0.0 ? -p : p));
}

// Rewards r(h, a) of every lane. An action beyond the power limit gets
// kInfeasibleReward: its weight is then cut off (exactly zero), and being
// finite it keeps 0 * r = 0 wherever a zero probability meets it.
template <int L>
SMFG_LANES_INLINE void SetRewards(Kernel<L>& k, const HouseholdDayInput* in) {
  using D = typename Vec<L>::D;
  const double wear = k.params.battery_wear_usd_per_kwh;
  for (int l = 0; l < L; ++l) {
    const HouseholdDayInput& d = in[l < k.n ? l : 0];
    for (int h = 0; h < kHoursPerDay; ++h) {
      k.base[h][l] = d.demand_kwh[h] - d.pv_kwh[h];
      k.rate[h][l] = d.import_rate_per_kwh[h];
      k.credit[h][l] = d.export_credit_per_kwh[h];
    }
  }
  const D infeasible = lanes::Broadcast<L>(kInfeasibleReward);
  for (int h = 0; h < kHoursPerDay; ++h) {
    const D base = k.base[h], rate = k.rate[h], credit = k.credit[h];
    for (int a = 0; a < k.A; ++a) {
      k.reward[h * k.A + a] = lanes::Select<L>(
          k.ok[a], MoveReward<D>(base, rate, credit, k.power[a], wear), infeasible);
    }
  }
}

// One backward pass from V_24 = v0: the softmax (or greedy) policy of v0 into
// pis and its regularised reward into Rs. Per lane: max |pis - pi| into *dpi
// (if kCompare),
// max |T v0 - v0| into *residual, max |v0| into *vmax.
template <int L, typename G, bool kCompare>
SMFG_LANES_INLINE void Sweep(Kernel<L>& k, double tau, typename Vec<L>::D* dpi,
                             typename Vec<L>::D* residual, typename Vec<L>::D* vmax) {
  using D = typename Vec<L>::D;
  using I = typename Vec<L>::I;
  const G g(k.band);
  const int S = g.S(), K = g.K(), A = g.A();
  const double gamma = k.gamma;
  const double inv_tau = tau > 0 ? 1.0 / tau : 0.0;
  const double gamma_over_tau = tau > 0 ? gamma / tau : 0.0;
  const D gamma_v = lanes::Broadcast<L>(gamma);
  const D tau_v = lanes::Broadcast<L>(tau);
  const D min_exp = lanes::Broadcast<L>(-kMaxExpArgument);
  const D max_shift = lanes::Broadcast<L>(kMaxWeightShift);
  const D zero{};
  const D one = lanes::Broadcast<L>(1.0);
  const D min_log = lanes::Broadcast<L>(kMinLogWeight);
  D* vn = k.va.data();
  D* vc = k.vb.data();
  std::copy(k.v0.begin(), k.v0.end(), vn);
  D dmax{};
  for (int h = kHoursPerDay - 1; h >= 0; --h) {
    const D* r = &k.reward[h * A];
    const D* pold = &k.pi[h * g.Size()];
    D* pnew = &k.pis[h * g.Size()];
    D* rs = &k.Rs[h * S];
    const D* er = &k.er[h * A];
    D b0{};
    if (tau > 0) {
      D nu = vn[0];
      for (int s = 1; s < S; ++s) nu = lanes::Max<L>(nu, vn[s]);
      for (int s = 0; s < S; ++s) {
        k.ev[s] = lanes::Exp<L>(lanes::Max<L>((vn[s] - nu) * gamma_over_tau, min_exp));
      }
      b0 = k.rho[h] + gamma * nu;
    }
    // ev[s'] = exp(gamma (V_{h+1}(s') - nu) / tau)
    const D* ev = k.ev.data();
    // The states of one hour are independent. Each step below runs over all
    // of them before the next starts, so that the long dependency chains of
    // one state (max, sum, division, log) overlap with the other states'. On
    // the default grid each step is instantiated per state, so that the action
    // loops have constant bounds.
    auto for_states = [&](auto&& f) __attribute__((always_inline)) {
      if constexpr (G::kStatic) {
        StaticFor<G::kS>(f);
      } else {
        for (int s = 0; s < S; ++s) f(s);
      }
    };
    if (tau > 0) {
      // Weights exp((q_a - b) / tau) for a shift b: by default b = rho_h +
      // gamma nu, so that each weight is the product er[a] ev[s'] of two
      // exponentials computed once per hour (S + A of them instead of S A).
      // A lane where that shift lies more than 600 tau above max_a q_a could
      // lose weights to underflow; it uses b = max_a q_a and exp of each
      // action instead (its own choice: the other lanes are unaffected).
      // Weights of one state; kMayBeDirect false when no lane can need the
      // direct form anywhere in this hour (checked below), which spares the
      // per-state test and selects.
      auto weights = [&](auto s_in, auto may_be_direct) __attribute__((always_inline)) {
        constexpr bool kMayBeDirect = decltype(may_be_direct)::value;
        const int s = s_in;
        const int lo = g.Lo(s), hi = g.Hi(s);
        D q_local[G::kA];
        D* q = G::kStatic ? q_local : k.q.data();
        D* xs = k.xh.data() + g.Off(s) - lo;
        D* ws = k.wh.data() + g.Off(s) - lo;
        const D* v = vn + s - K;  // v[a] = V_{h+1}(s + a - K)
        D m = lanes::Broadcast<L>(-kInf);
#pragma GCC unroll 16
        for (int a = lo; a < hi; ++a) {
          q[a] = lanes::Fma<L>(gamma_v, v[a], r[a]);
          m = lanes::Max<L>(m, q[a]);
        }
        const D c = (b0 - m) * inv_tau;
        I direct{};
        bool any_direct = false;
        if constexpr (kMayBeDirect) {
          // (The sign of max_shift - c, not c > max_shift: GCC 12 ICEs on the latter.)
          direct = lanes::Bits<L>(max_shift - c) >> 63;
          any_direct = lanes::AnySet<L>(direct);
        }
        D z{};
#pragma GCC unroll 16
        for (int a = lo; a < hi; ++a) {
          const D xa = (q[a] - m) * inv_tau;
          D wa = er[a] * ev[s + a - K];
          if (any_direct) {
            wa = lanes::Select<L>(direct, lanes::Exp<L>(lanes::Max<L>(xa, min_log)), wa);
          }
          // The cut-off, with the comparison inside the select: GCC turns a
          // comparison kept in a mask variable into lane-by-lane code on AVX-512.
          wa = xa < min_log ? zero : wa;
          xs[a] = xa;
          ws[a] = wa;
          z += wa;
        }
        k.zh[s] = z;
        // log pi_a = x_a - norm with norm = c + log z on the shifted lanes and
        // log z on the direct ones.
        if constexpr (kMayBeDirect) {
          k.mh[s] = lanes::Select<L>(direct, m, b0);
          k.ch[s] = lanes::Select<L>(direct, zero, c);
        } else {
          k.mh[s] = b0;
          k.ch[s] = c;
        }
      };
      // max_a q_a >= q of idling >= gamma min_s' V + r_idle, and rounding is
      // monotone, so `bound` is at least every state's c, bit for bit: when it
      // is within the limit in every lane, no state needs the direct form.
      D v_min = vn[0];
      for (int s = 1; s < S; ++s) v_min = lanes::Min<L>(v_min, vn[s]);
      const D bound = (b0 - lanes::Fma<L>(gamma_v, v_min, r[K])) * inv_tau;
      if (lanes::AnySet<L>(lanes::Bits<L>(max_shift - bound) >> 63)) {
        for_states([&](auto s_in)
                       __attribute__((always_inline)) { weights(s_in, std::true_type{}); });
      } else {
        for_states([&](auto s_in)
                       __attribute__((always_inline)) { weights(s_in, std::false_type{}); });
      }
      for (int s = 0; s < S; ++s) {
        const D z = k.zh[s];
        const D log_z = lanes::Log<L>(z);
        k.zh[s] = 1.0 / z;
        vc[s] = lanes::Fma<L>(tau_v, log_z, k.mh[s]);
        k.ch[s] += log_z;
      }
      for_states([&](auto s_in) __attribute__((always_inline)) {
        const int s = s_in;
        const int lo = g.Lo(s), hi = g.Hi(s);
        const D* xs = k.xh.data() + g.Off(s) - lo;
        const D* ws = k.wh.data() + g.Off(s) - lo;
        const D* old_s = pold + g.Off(s) - lo;  // old_s[a]
        D* new_s = pnew + g.Off(s) - lo;
        const D inv = k.zh[s], log_norm = k.ch[s];
        D racc{};
#pragma GCC unroll 16
        for (int a = lo; a < hi; ++a) {
          const D p = ws[a] * inv;
          // A cut-off action has p = 0 and a finite term: it adds nothing.
          racc = lanes::Fma<L>(p, lanes::Fma<L>(-tau_v, xs[a] - log_norm, r[a]), racc);
          new_s[a] = p;
          if constexpr (kCompare) dmax = lanes::Max<L>(dmax, lanes::Abs<L>(p - old_s[a]));
        }
        rs[s] = racc;
      });
    } else {
      // Greedy: the lowest-index maximiser, a deterministic argmax.
      for_states([&](auto s_in) __attribute__((always_inline)) {
        const int s = s_in;
        const int lo = g.Lo(s), hi = g.Hi(s);
        const D* old_s = pold + g.Off(s) - lo;
        D* new_s = pnew + g.Off(s) - lo;
        const D* v = vn + s - K;
        D q_local[G::kA];
        D* q = G::kStatic ? q_local : k.q.data();
        D m = lanes::Broadcast<L>(-kInf);
#pragma GCC unroll 16
        for (int a = lo; a < hi; ++a) {
          q[a] = lanes::Fma<L>(gamma_v, v[a], r[a]);
          m = lanes::Max<L>(m, q[a]);
        }
        // The lowest-index maximiser, a deterministic argmax: its index as a
        // double, and p_a = max(0, 1 - |best - a|), all arithmetic (mask
        // variables and == become lane-by-lane code on AVX-512).
        D best = lanes::Broadcast<L>(hi - 1);
#pragma GCC unroll 16
        for (int a = hi - 2; a >= lo; --a) best = q[a] >= m ? lanes::Broadcast<L>(a) : best;
        D racc{};
#pragma GCC unroll 16
        for (int a = lo; a < hi; ++a) {
          const D p = lanes::Max<L>(zero, one - lanes::Abs<L>(best - static_cast<double>(a)));
          racc = lanes::Fma<L>(p, r[a], racc);
          new_s[a] = p;
          if constexpr (kCompare) dmax = lanes::Max<L>(dmax, lanes::Abs<L>(p - old_s[a]));
        }
        vc[s] = m;
        rs[s] = racc;
      });
    }
    std::swap(vn, vc);
  }
  D res{}, vm{};
  for (int s = 0; s < S; ++s) {
    res = lanes::Max<L>(res, lanes::Abs<L>(vn[s] - k.v0[s]));
    vm = lanes::Max<L>(vm, lanes::Abs<L>(k.v0[s]));
  }
  *dpi = dmax;
  *residual = res;
  *vmax = vm;
}

// Exact evaluation of policy `pi` with regularised rewards `r1` (and, if
// given, a second reward table `r2` for the same policy): V_0 into v1 (v2),
// the day's transition matrix M = P_0 P_1 ... P_23 into k.Bn. Each row of
// B_h = P_h B_{h+1} mixes at most 2K + 1 rows of B_{h+1} (the banded P_h).
template <int L, typename G>
SMFG_LANES_INLINE void Evaluate(Kernel<L>& k, const typename Vec<L>::D* pi,
                                const typename Vec<L>::D* r1, const typename Vec<L>::D* r2,
                                typename Vec<L>::D* v1, typename Vec<L>::D* v2) {
  using D = typename Vec<L>::D;
  const G g(k.band);
  const int S = g.S(), K = g.K();
  const double gamma = k.gamma;
  const D gamma_v = lanes::Broadcast<L>(gamma);
  D* bn = k.Bn.data();
  D* bc = k.Bc.data();
  D* wn = k.Wn.data();
  D* wc = k.Wc.data();
  D* wn2 = k.Wn2.data();
  D* wc2 = k.Wc2.data();
  const D one = lanes::Broadcast<L>(1.0);
  for (int i = 0; i < S; ++i) {
    for (int j = 0; j < S; ++j) bn[i * S + j] = i == j ? one : D{};
    wn[i] = D{};
    wn2[i] = D{};
  }
  for (int h = kHoursPerDay - 1; h >= 0; --h) {
    const D* ph = pi + h * g.Size();
    for (int s = 0; s < S; ++s) {
      const int lo = g.Lo(s), hi = g.Hi(s);
      const D* p_s = ph + g.Off(s) - lo;
      D acc{}, acc2{};
      // The first action initialises the row (x = 0 + x exactly: rows are
      // nonnegative), the others add to it in order.
      if constexpr (G::kStatic) {
        // Row s accumulates in registers (S is a compile-time constant).
        D row[G::kS];
        const D p = p_s[lo];
        const D* __restrict next = bn + (s + lo - K) * S;
#pragma GCC unroll 32
        for (int j = 0; j < G::kS; ++j) row[j] = p * next[j];
        acc = lanes::Fma<L>(p, wn[s + lo - K], acc);
        if (r2 != nullptr) acc2 = lanes::Fma<L>(p, wn2[s + lo - K], acc2);
        for (int a = lo + 1; a < hi; ++a) {
          const D pa = p_s[a];
          const int s2 = s + a - K;
          const D* __restrict na = bn + s2 * S;
#pragma GCC unroll 32
          for (int j = 0; j < G::kS; ++j) row[j] = lanes::Fma<L>(pa, na[j], row[j]);
          acc = lanes::Fma<L>(pa, wn[s2], acc);
          if (r2 != nullptr) acc2 = lanes::Fma<L>(pa, wn2[s2], acc2);
        }
#pragma GCC unroll 32
        for (int j = 0; j < G::kS; ++j) bc[s * S + j] = row[j];
      } else {
        D* __restrict row = bc + s * S;
        const D p = p_s[lo];
        const D* __restrict next = bn + (s + lo - K) * S;
        for (int j = 0; j < S; ++j) row[j] = p * next[j];
        acc = lanes::Fma<L>(p, wn[s + lo - K], acc);
        if (r2 != nullptr) acc2 = lanes::Fma<L>(p, wn2[s + lo - K], acc2);
        for (int a = lo + 1; a < hi; ++a) {
          const D pa = p_s[a];
          if (!lanes::AnySet<L>(pa != 0.0)) continue;
          const int s2 = s + a - K;
          const D* __restrict na = bn + s2 * S;
          for (int j = 0; j < S; ++j) row[j] = lanes::Fma<L>(pa, na[j], row[j]);
          acc = lanes::Fma<L>(pa, wn[s2], acc);
          if (r2 != nullptr) acc2 = lanes::Fma<L>(pa, wn2[s2], acc2);
        }
      }
      wc[s] = lanes::Fma<L>(gamma_v, acc, r1[h * S + s]);
      if (r2 != nullptr) wc2[s] = lanes::Fma<L>(gamma_v, acc2, r2[h * S + s]);
    }
    std::swap(bn, bc);
    std::swap(wn, wc);
    std::swap(wn2, wc2);
  }
  if (bn != k.Bn.data()) std::copy(bn, bn + S * S, k.Bn.data());
  // (I - gamma^24 M) V = W is strictly diagonally dominant by rows (M is
  // stochastic, gamma < 1): Gaussian elimination needs no pivoting, so every
  // lane follows the same operations.
  D* a = k.lin.data();
  for (int i = 0; i < S; ++i) {
    for (int j = 0; j < S; ++j) {
      const D g = k.gamma_day * k.Bn[i * S + j];
      a[i * S + j] = i == j ? 1.0 - g : -g;
    }
    v1[i] = wn[i];
    if (r2 != nullptr) v2[i] = wn2[i];
  }
  for (int c = 0; c < S; ++c) {
    const D inv = 1.0 / a[c * S + c];
    for (int r = c + 1; r < S; ++r) {
      const D f = a[r * S + c] * inv;
      for (int j = c + 1; j < S; ++j) a[r * S + j] = lanes::Fma<L>(-f, a[c * S + j], a[r * S + j]);
      v1[r] = lanes::Fma<L>(-f, v1[c], v1[r]);
      if (r2 != nullptr) v2[r] = lanes::Fma<L>(-f, v2[c], v2[r]);
    }
  }
  for (int r = S - 1; r >= 0; --r) {
    D acc = v1[r], acc2 = r2 != nullptr ? v2[r] : D{};
    for (int j = r + 1; j < S; ++j) {
      acc = lanes::Fma<L>(-a[r * S + j], v1[j], acc);
      if (r2 != nullptr) acc2 = lanes::Fma<L>(-a[r * S + j], v2[j], acc2);
    }
    v1[r] = acc / a[r * S + r];
    if (r2 != nullptr) v2[r] = acc2 / a[r * S + r];
  }
}

template <typename V, typename M>
SMFG_LANES_INLINE void Blend(LaneVector<V>& to, const LaneVector<V>& from, M keep) {
  for (size_t i = 0; i < to.size(); ++i) to[i] = keep ? to[i] : from[i];
}

// The reward half of the sweep's weights (see Sweep) under k.reward, once per
// solve: rho_h = max_a r(h, a) and er = exp((r - rho_h) / tau).
template <int L>
SMFG_LANES_INLINE void RewardWeights(Kernel<L>& k, double tau) {
  using D = typename Vec<L>::D;
  if (tau <= 0) return;
  const D min_exp = lanes::Broadcast<L>(-kMaxExpArgument);
  for (int h = 0; h < kHoursPerDay; ++h) {
    const D* r = &k.reward[h * k.A];
    D rho = r[k.K];  // idling is always feasible
    for (int a = 0; a < k.A; ++a) rho = lanes::Max<L>(rho, r[a]);
    k.rho[h] = rho;
    for (int a = 0; a < k.A; ++a) {
      k.er[h * k.A + a] = lanes::Exp<L>(lanes::Max<L>((r[a] - rho) * (1.0 / tau), min_exp));
    }
  }
}

// Newton's method (soft policy iteration) on every lane in use, from k.v0
// (warm) or from V = 0. With `evaluated`, k.pi, k.R, k.v0 and k.M are a policy
// with its exact value and transition matrix under the current rewards. On return pi, R, v0 and M
// belong to each lane's accepted policy: v0 is its exact value and M its day transition matrix,
// and v_src holds the values that policy was swept from (so that one sweep from v_src under
// the same rewards gives it again, bit for bit: ReplayPolicy).
template <int L, typename G>
SMFG_LANES_INLINE void SolvePolicy(Kernel<L>& k, double tau, bool warm_start,
                                   bool evaluated = false) {
  using D = typename Vec<L>::D;
  using I = typename Vec<L>::I;
  if (!warm_start) std::fill(k.v0.begin(), k.v0.end(), D{});
  RewardWeights<L>(k, tau);
  I done = ~k.used;
  for (int l = 0; l < L; ++l) {
    k.iterations[l] = kMaxPolicyIterations;
    k.converged[l] = false;
  }
  const D tolerance = lanes::Broadcast<L>(kPolicyTolerance);
  for (int it = 1; it <= kMaxPolicyIterations; ++it) {
    D dpi, residual, vmax;
    // (The first sweep's comparison is not used; it skips it.)
    if (it > 1 || evaluated) {
      Sweep<L, G, true>(k, tau, &dpi, &residual, &vmax);
    } else {
      Sweep<L, G, false>(k, tau, &dpi, &residual, &vmax);
    }
    // The first sweep's policy is compared with a policy evaluated under
    // other rewards (the previous day's), so it cannot stop there, unless
    // pi, R, v0 and M already belong to the current rewards (`evaluated`).
    if (it > 1 || evaluated) {
      I ok;
      if (tau > 0) {
        ok = dpi <= lanes::Max<L>(tolerance, vmax * (kRoundoffFactor / tau));
      } else {
        ok = (dpi <= 0.0) | (residual < kArgmaxResidual);  // dpi >= 0
      }
      const I newly = ok & ~done;
      for (int l = 0; l < L; ++l) {
        if (newly[l]) {
          k.iterations[l] = it;
          k.converged[l] = true;
        }
      }
      done |= newly;
    }
    if (lanes::AllSet<L>(done)) break;
    // Lanes still running accept the swept policy; finished lanes keep theirs.
    if (!lanes::AnySet<L>(done & k.used)) {
      std::swap(k.pi, k.pis);
      std::swap(k.R, k.Rs);
    } else {
      Blend(k.pi, k.pis, done);
      Blend(k.R, k.Rs, done);
    }
    Evaluate<L, G>(k, k.pi.data(), k.R.data(), nullptr, k.v_eval.data(), nullptr);
    Blend(k.v_src, k.v0, done);
    Blend(k.v0, k.v_eval, done);
    Blend(k.M, k.Bn, done);
  }
}

// The policy SolvePolicy accepted, from the values it was swept from (k.v_src,
// under the current rewards): that one sweep, the same operations on the same
// numbers as SolvePolicy's accepting iteration, so pi and R come out bit for
// bit as they did (the lanes are independent: which direct/shifted form a
// lane's weights take is its own choice, see Sweep). Not evaluated: v0 and M
// are left as they were (M depends on pi alone, and Evaluate gives it the same
// bits whatever the rewards).
template <int L, typename G>
SMFG_LANES_INLINE void ReplayPolicy(Kernel<L>& k, double tau) {
  using D = typename Vec<L>::D;
  RewardWeights<L>(k, tau);
  k.v0 = k.v_src;
  D dpi, residual, vmax;
  Sweep<L, G, false>(k, tau, &dpi, &residual, &vmax);
  std::swap(k.pi, k.pis);
  std::swap(k.R, k.Rs);
}

// Long-run midnight distribution of every lane in use from its M (scalar:
// once per household-day), into k.mu; padding lanes get zeros.
template <int L, typename G>
SMFG_LANES_INLINE void MidnightDistribution(Kernel<L>& k) {
  using D = typename Vec<L>::D;
  using I = typename Vec<L>::I;
  const G g(k.band);
  const int S = g.S();
  // Usually every entry of M is positive in every lane: one closed class
  // holding every state, whose distribution is LongRunDistribution's GTH
  // elimination over all states. Run those same operations across the lanes
  // (markov_chain.cc, GthStationary: the skipped f = 0 updates add zeros).
  I positive = ~I{};
  for (int i = 0; i < S * S; ++i) positive &= k.M[i] > 0.0;
  if (lanes::AllSet<L>(positive | ~k.used)) {
    D* q = k.lin.data();
    const D uniform = lanes::Broadcast<L>(1.0 / S);  // keeps padding lanes finite
    for (int i = 0; i < S * S; ++i) q[i] = lanes::Select<L>(k.used, k.M[i], uniform);
    for (int c = S - 1; c >= 1; --c) {
      D sum{};
      for (int j = 0; j < c; ++j) sum += q[c * S + j];
      for (int i = 0; i < c; ++i) q[i * S + c] /= sum;
      for (int i = 0; i < c; ++i) {
        const D f = q[i * S + c];
        for (int j = 0; j < c; ++j) q[i * S + j] += f * q[c * S + j];
      }
    }
    D* x = k.fa.data();
    x[0] = lanes::Broadcast<L>(1.0);
    D total = x[0];
    for (int c = 1; c < S; ++c) {
      D v{};
      for (int i = 0; i < c; ++i) v += x[i] * q[i * S + c];
      x[c] = v;
      total += v;
    }
    for (int s = 0; s < S; ++s) k.mu[s] = lanes::Select<L>(k.used, x[s] / total, D{});
    for (int l = 0; l < L; ++l) k.classes[l] = 1;
    return;
  }
  for (int l = 0; l < L; ++l) {
    if (l >= k.n) {
      for (int s = 0; s < S; ++s) k.mu[s][l] = 0.0;
      k.classes[l] = 1;
      continue;
    }
    for (int i = 0; i < S * S; ++i) k.m_lane[i] = k.M[i][l];
    k.classes[l] = LongRunDistribution(S, k.m_lane.data(), 0, k.mu_lane.data());
    for (int s = 0; s < S; ++s) k.mu[s][l] = k.mu_lane[s];
  }
}

// Propagates k.mu through the day under pi and writes every lane's expected
// outcomes.
template <int L, typename G>
SMFG_LANES_INLINE void ForwardPass(Kernel<L>& k, HouseholdDayOutcome* out) {
  using D = typename Vec<L>::D;
  const G g(k.band);
  const int S = g.S(), K = g.K();
  const double wear = k.params.battery_wear_usd_per_kwh;
  D* cur = k.fa.data();
  D* next = k.fb.data();
  std::copy(k.mu.begin(), k.mu.end(), cur);
  for (int l = 0; l < k.n; ++l) out[l] = HouseholdDayOutcome{};
  for (int h = 0; h < kHoursPerDay; ++h) {
    for (int s = 0; s < S; ++s) next[s] = D{};
    const D base = k.base[h];
    const D* ph = &k.pi[h * g.Size()];
    D imp{}, exp{}, charge{}, discharge{}, soc{};
    for (int s = 0; s < S; ++s) {
      const D ms = cur[s];
      soc += ms * static_cast<double>(s) * k.step_kwh;
      const int lo = g.Lo(s), hi = g.Hi(s);
      const D* p_s = ph + g.Off(s) - lo;
      for (int a = lo; a < hi; ++a) {
        const D wt = ms * p_s[a];
        const D p = k.power[a];
        const D net = base + p;
        imp = lanes::Fma<L>(wt, lanes::Max<L>(net, D{}), imp);
        exp = lanes::Fma<L>(wt, lanes::Max<L>(-net, D{}), exp);
        if (a > K) charge = lanes::Fma<L>(wt, p, charge);
        if (a < K) discharge = lanes::Fma<L>(wt, -p, discharge);
        next[s + a - K] += wt;
      }
    }
    for (int l = 0; l < k.n; ++l) {
      HouseholdDayOutcome& o = out[l];
      o.import_kwh[h] = imp[l];
      o.export_kwh[h] = exp[l];
      o.charge_kw[h] = charge[l];
      o.discharge_kw[h] = discharge[l];
      o.battery_kw[h] = charge[l] - discharge[l];
      o.soc_kwh[h] = soc[l];
      o.energy_bill_usd += k.rate[h][l] * imp[l] - k.credit[h][l] * exp[l];
      o.wear_cost_usd += wear * (charge[l] + discharge[l]);
    }
    std::swap(cur, next);
  }
  for (int l = 0; l < k.n; ++l) {
    out[l].policy_iterations = k.iterations[l];
    out[l].converged = k.converged[l];
    out[l].unique_distribution = k.classes[l] == 1;
  }
}

template <int L, typename G>
SMFG_LANES_INLINE void SolveDay(Kernel<L>& k, const HouseholdDayInput* in, HouseholdDayOutcome* out,
                                bool warm_start) {
  SetRewards<L>(k, in);
  SolvePolicy<L, G>(k, k.params.temperature_usd, warm_start);
  MidnightDistribution<L, G>(k);
  ForwardPass<L, G>(k, out);
}

// sum_s mu(s) v(s) per lane.
template <int L>
SMFG_LANES_INLINE typename Vec<L>::D Expected(const Kernel<L>& k, const typename Vec<L>::D* v) {
  typename Vec<L>::D e{};
  for (int s = 0; s < k.S; ++s) e += k.mu[s] * v[s];
  return e;
}

// The exploitability of a followed policy: k.pi with its regularised and plain
// rewards under the realised prices in k.R and k.R2, k.reward holding those
// prices' rewards, k.M the policy's day matrix and k.mu its midnight
// distribution.
// With `distribution`, k.M and k.mu are computed here from the policy instead.
template <int L, typename G>
SMFG_LANES_INLINE void FollowedPolicyGains(Kernel<L>& k, Exploitability* out,
                                           bool distribution = false) {
  using D = typename Vec<L>::D;
  const double tau = k.params.temperature_usd;
  Evaluate<L, G>(k, k.pi.data(), k.R.data(), k.R2.data(), k.v_eval.data(), k.v_eval2.data());
  if (distribution) {
    std::copy(k.Bn.begin(), k.Bn.end(), k.M.begin());
    MidnightDistribution<L, G>(k);
  }
  const D soft_followed = Expected<L>(k, k.v_eval.data());
  const D plain_followed = Expected<L>(k, k.v_eval2.data());

  // Best responses to the realised prices: the soft one starts from the
  // followed policy, just evaluated under them (M depends on the policy only),
  // so at an equilibrium it stops after one sweep; the plain one from the
  // soft best response's values.
  k.v0 = k.v_eval;
  SolvePolicy<L, G>(k, tau, /*warm_start=*/true, /*evaluated=*/true);
  const D soft_best = Expected<L>(k, k.v0.data());
  SolvePolicy<L, G>(k, 0.0, /*warm_start=*/true);
  const D plain_best = Expected<L>(k, k.v0.data());
  const double per_day = 1.0 - k.gamma_day;
  for (int l = 0; l < k.n; ++l) {
    out[l].regularised = per_day * (soft_best[l] - soft_followed[l]);
    out[l].plain = per_day * (plain_best[l] - plain_followed[l]);
  }
}

// Dense policy tables (household_solver.h, "Policy tables") of the lanes in
// use, lane l's at tables + l * 24 S A, into k.pi; padding lanes repeat lane 0.
template <int L, typename G>
SMFG_LANES_INLINE void LoadPolicy(Kernel<L>& k, const double* tables) {
  const G g(k.band);
  const int S = g.S(), A = g.A();
  const size_t per_lane = static_cast<size_t>(kHoursPerDay) * S * A;
  for (int l = 0; l < L; ++l) {
    const double* t = tables + (l < k.n ? l : 0) * per_lane;
    for (int h = 0; h < kHoursPerDay; ++h) {
      for (int s = 0; s < S; ++s) {
        const int lo = g.Lo(s), hi = g.Hi(s);
        for (int a = lo; a < hi; ++a) {
          k.pi[h * g.Size() + g.Off(s) - lo + a][l] = t[(static_cast<size_t>(h) * S + s) * A + a];
        }
      }
    }
  }
}

// Outcomes of the households following given policies (no optimisation): the
// policies' day matrices, midnight distributions and expected outcomes.
template <int L, typename G>
SMFG_LANES_INLINE void FollowDay(Kernel<L>& k, const double* tables, const HouseholdDayInput* in,
                                 HouseholdDayOutcome* out) {
  using D = typename Vec<L>::D;
  SetRewards<L>(k, in);
  LoadPolicy<L, G>(k, tables);
  // Only the transition matrix is wanted; the values are not.
  std::fill(k.R.begin(), k.R.end(), D{});
  Evaluate<L, G>(k, k.pi.data(), k.R.data(), nullptr, k.v_eval.data(), nullptr);
  std::copy(k.Bn.begin(), k.Bn.end(), k.M.begin());
  for (int l = 0; l < L; ++l) {
    k.iterations[l] = 0;
    k.converged[l] = true;
  }
  MidnightDistribution<L, G>(k);
  ForwardPass<L, G>(k, out);
}

// Exploitability of given policies under `realised` prices.
template <int L, typename G>
SMFG_LANES_INLINE void ExploitPolicyDay(Kernel<L>& k, const double* tables,
                                        const HouseholdDayInput* realised, Exploitability* out) {
  using D = typename Vec<L>::D;
  const double tau = k.params.temperature_usd;
  const G g(k.band);
  const int S = g.S();
  SetRewards<L>(k, realised);
  LoadPolicy<L, G>(k, tables);
  // Regularised reward sum_a p (r - tau log p) and plain sum_a p r; a move
  // with p = 0 adds nothing (rewards are finite, and its log is taken of 1).
  const D tau_v = lanes::Broadcast<L>(tau);
  for (int h = 0; h < kHoursPerDay; ++h) {
    const D* r = &k.reward[h * k.A];
    for (int s = 0; s < S; ++s) {
      const int lo = g.Lo(s), hi = g.Hi(s);
      const D* p_s = &k.pi[h * g.Size()] + g.Off(s) - lo;
      D soft{}, plain{};
      for (int a = lo; a < hi; ++a) {
        const D p = p_s[a];
        const D positive = lanes::Select<L>(p > 0.0, p, lanes::Broadcast<L>(1.0));
        const D log_p = lanes::Log<L>(positive);  // 0 where p = 0
        plain = lanes::Fma<L>(p, r[a], plain);
        soft = lanes::Fma<L>(p, r[a] - tau_v * log_p, soft);
      }
      k.R[h * S + s] = soft;
      k.R2[h * S + s] = plain;
    }
  }
  FollowedPolicyGains<L, G>(k, out, /*distribution=*/true);
}

template <int L, typename G>
SMFG_LANES_INLINE void ExploitDay(Kernel<L>& k, const HouseholdDayInput* belief,
                                  const HouseholdDayInput* realised, Exploitability* out,
                                  bool warm_start, const double* sources) {
  using D = typename Vec<L>::D;
  const double tau = k.params.temperature_usd;
  const G g(k.band);
  const int S = g.S();
  SetRewards<L>(k, belief);
  if (sources != nullptr) {
    // The belief solve's policy from the values it was swept from (lane l's
    // S values at sources + l S; padding lanes repeat lane 0's).
    for (int l = 0; l < L; ++l) {
      const double* src = sources + (l < k.n ? l : 0) * S;
      for (int s = 0; s < S; ++s) k.v_src[s][l] = src[s];
    }
    ReplayPolicy<L, G>(k, tau);
  } else {
    if (warm_start) k.v0 = k.v_belief;
    SolvePolicy<L, G>(k, tau, warm_start);
    k.v_belief = k.v0;
    MidnightDistribution<L, G>(k);
  }

  // The followed policy under realised prices: its regularised reward changes
  // only by the expected reward difference, and its plain reward drops the
  // entropy term.
  k.reward_belief.swap(k.reward);
  SetRewards<L>(k, realised);
  for (int h = 0; h < kHoursPerDay; ++h) {
    const D* r_new = &k.reward[h * k.A];
    const D* r_old = &k.reward_belief[h * k.A];
    for (int s = 0; s < S; ++s) {
      const int lo = g.Lo(s), hi = g.Hi(s);
      const D* p_s = &k.pi[h * g.Size()] + g.Off(s) - lo;
      D soft = k.R[h * S + s], plain{};
      for (int a = lo; a < hi; ++a) {
        const D p = p_s[a];
        // (Rewards are finite, so p = 0 adds nothing.)
        soft = lanes::Fma<L>(p, r_new[a] - r_old[a], soft);
        plain = lanes::Fma<L>(p, r_new[a], plain);
      }
      k.R[h * S + s] = soft;
      k.R2[h * S + s] = plain;
    }
  }
  // A replayed policy has no day matrix yet: the gains' evaluation makes it.
  FollowedPolicyGains<L, G>(k, out, /*distribution=*/sources != nullptr);
}

// One instantiation per instruction set, each at its native vector width (2,
// 4 and 8 doubles): a logical block of 8 lanes runs as 4, 2 or 1 kernels. The
// bodies are identical; only the registers differ (lanes.h explains why the
// bits cannot).
#define SMFG_KERNEL_ENTRY(name, width, attr)                                                     \
  attr void SolveDay##name(Kernel<width>& k, const HouseholdDayInput* in,                        \
                           HouseholdDayOutcome* out, bool warm) {                                \
    if (k.S == DefaultGrid::kS && k.K == DefaultGrid::kK) {                                      \
      SolveDay<width, DefaultGrid>(k, in, out, warm);                                            \
    } else {                                                                                     \
      SolveDay<width, DynamicGrid>(k, in, out, warm);                                            \
    }                                                                                            \
  }                                                                                              \
  attr void ExploitDay##name(Kernel<width>& k, const HouseholdDayInput* b,                       \
                             const HouseholdDayInput* r, Exploitability* out, bool warm,         \
                             const double* src) {                                                \
    if (k.S == DefaultGrid::kS && k.K == DefaultGrid::kK) {                                      \
      ExploitDay<width, DefaultGrid>(k, b, r, out, warm, src);                                   \
    } else {                                                                                     \
      ExploitDay<width, DynamicGrid>(k, b, r, out, warm, src);                                   \
    }                                                                                            \
  }                                                                                              \
  attr void FollowDay##name(Kernel<width>& k, const double* tables, const HouseholdDayInput* in, \
                            HouseholdDayOutcome* out) {                                          \
    if (k.S == DefaultGrid::kS && k.K == DefaultGrid::kK) {                                      \
      FollowDay<width, DefaultGrid>(k, tables, in, out);                                         \
    } else {                                                                                     \
      FollowDay<width, DynamicGrid>(k, tables, in, out);                                         \
    }                                                                                            \
  }                                                                                              \
  attr void ExploitPolicyDay##name(Kernel<width>& k, const double* tables,                       \
                                   const HouseholdDayInput* r, Exploitability* out) {            \
    if (k.S == DefaultGrid::kS && k.K == DefaultGrid::kK) {                                      \
      ExploitPolicyDay<width, DefaultGrid>(k, tables, r, out);                                   \
    } else {                                                                                     \
      ExploitPolicyDay<width, DynamicGrid>(k, tables, r, out);                                   \
    }                                                                                            \
  }

SMFG_KERNEL_ENTRY(One, 1, )
#if defined(__x86_64__)
SMFG_KERNEL_ENTRY(OneFma, 1, __attribute__((target("fma"))))
#endif
SMFG_KERNEL_ENTRY(Baseline, 2, )
#if defined(__x86_64__)
SMFG_KERNEL_ENTRY(Avx2, 4, __attribute__((target("avx2,fma"))))
SMFG_KERNEL_ENTRY(Avx512, 8, __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma"))))
#endif
#undef SMFG_KERNEL_ENTRY

KernelIsa IsaFromEnvironment(KernelIsa best) {
  const char* e = std::getenv("SMFG_KERNEL_ISA");
  if (e == nullptr) return best;
  const std::string v(e);
  for (KernelIsa isa : {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (v == KernelIsaName(isa) && KernelIsaSupported(isa)) return isa;
  }
  return best;
}

}  // namespace

bool KernelIsaSupported(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kBaseline:
      return true;
#if defined(__x86_64__)
    case KernelIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KernelIsa::kAvx512:
      // x86-64-v4's AVX-512 subsets: without DQ, GCC turns mask registers
      // into vector masks lane by lane.
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif
    default:
      return false;
  }
}

KernelIsa BestKernelIsa() {
  static const KernelIsa best = [] {
    KernelIsa b = KernelIsa::kBaseline;
    if (KernelIsaSupported(KernelIsa::kAvx2)) b = KernelIsa::kAvx2;
    if (KernelIsaSupported(KernelIsa::kAvx512)) b = KernelIsa::kAvx512;
    return IsaFromEnvironment(b);
  }();
  return best;
}

const char* KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kBaseline:
      return "baseline";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

// A logical block of `lanes` households as lanes / W kernels of width W.
template <int W>
struct Subkernels {
  std::vector<std::unique_ptr<Kernel<W>>> k;
  // Calls f(kernel, first lane, lanes used in it) for the kernels in use.
  template <typename F>
  void ForEach(int n, F&& f) {
    for (size_t j = 0; j < k.size(); ++j) {
      const int first = static_cast<int>(j) * W;
      if (first >= n) break;
      f(*k[j], first, std::min(W, n - first));
    }
  }
};

struct BatteryBlockSolver::Impl {
  explicit Impl(const FollowerParams& p) : band(p) {}
  Band band;
  int lanes = 1, width = 1, n = 0;
  Subkernels<1> k1;
  Subkernels<2> k2;
  Subkernels<4> k4;
  Subkernels<8> k8;

  template <int W>
  void Create(const FollowerParams& p, Subkernels<W>* sub) {
    width = W;
    for (int j = 0; j < lanes / W; ++j) sub->k.push_back(std::make_unique<Kernel<W>>(p, band));
  }
  // f(Subkernels<W>&) for the width in use.
  template <typename F>
  void Visit(F&& f) {
    switch (width) {
      case 8:
        return f(k8);
      case 4:
        return f(k4);
      case 2:
        return f(k2);
      default:
        return f(k1);
    }
  }
  template <typename F>
  void Visit(F&& f) const {
    const_cast<Impl*>(this)->Visit(f);
  }
};

BatteryBlockSolver::BatteryBlockSolver(const FollowerParams& params, int lanes, KernelIsa isa)
    : params_(params),
      isa_(KernelIsaSupported(isa) ? isa : KernelIsa::kBaseline),
      impl_(std::make_unique<Impl>(params)) {
  Impl& m = *impl_;
  m.lanes = lanes == kMaxLanes && m.band.BlockBytes(kMaxLanes) <= kMaxBlockBytes ? kMaxLanes : 1;
  if (m.lanes == 1) {
    m.Create(params, &m.k1);
  } else if (isa_ == KernelIsa::kAvx512) {
    m.Create(params, &m.k8);
  } else if (isa_ == KernelIsa::kAvx2) {
    m.Create(params, &m.k4);
  } else {
    m.Create(params, &m.k2);
  }
}

BatteryBlockSolver::~BatteryBlockSolver() = default;

int BatteryBlockSolver::lanes() const { return impl_->lanes; }

void BatteryBlockSolver::SetBatteries(const BatterySpec* batteries, int n) {
  impl_->n = n;
  impl_->Visit([&](auto& sub) {
    sub.ForEach(n,
                [&](auto& k, int first, int used) { InitBatteries(k, batteries + first, used); });
  });
}

namespace {
// Calls fn##One (or fn##OneFma), fn##Baseline, fn##Avx2 or fn##Avx512 for a
// kernel k of width 1, 2, 4 or 8, with the remaining arguments.
#if defined(__x86_64__)
#define SMFG_ON_ISA(fn, k, isa, ...)                                 \
  do {                                                               \
    constexpr int kW = std::remove_reference_t<decltype(k)>::kWidth; \
    if constexpr (kW == 1) {                                         \
      if ((isa) != KernelIsa::kBaseline) {                           \
        fn##OneFma(k, __VA_ARGS__);                                  \
      } else {                                                       \
        fn##One(k, __VA_ARGS__);                                     \
      }                                                              \
    } else if constexpr (kW == 2) {                                  \
      fn##Baseline(k, __VA_ARGS__);                                  \
    } else if constexpr (kW == 4) {                                  \
      fn##Avx2(k, __VA_ARGS__);                                      \
    } else {                                                         \
      fn##Avx512(k, __VA_ARGS__);                                    \
    }                                                                \
  } while (false)
#else
#define SMFG_ON_ISA(fn, k, isa, ...)                                 \
  do {                                                               \
    constexpr int kW = std::remove_reference_t<decltype(k)>::kWidth; \
    if constexpr (kW == 1) {                                         \
      fn##One(k, __VA_ARGS__);                                       \
    } else {                                                         \
      fn##Baseline(k, __VA_ARGS__);                                  \
    }                                                                \
  } while (false)
#endif
}  // namespace

void BatteryBlockSolver::Solve(const HouseholdDayInput* in, HouseholdDayOutcome* out,
                               bool warm_start) {
  impl_->Visit([&](auto& sub) {
    sub.ForEach(impl_->n, [&](auto& k, int first, int) {
      SMFG_ON_ISA(SolveDay, k, isa_, in + first, out + first, warm_start);
    });
  });
}

void BatteryBlockSolver::MeasureExploitability(const HouseholdDayInput* belief,
                                               const HouseholdDayInput* realised,
                                               Exploitability* out, bool warm_start) {
  impl_->Visit([&](auto& sub) {
    sub.ForEach(impl_->n, [&](auto& k, int first, int) {
      SMFG_ON_ISA(ExploitDay, k, isa_, belief + first, realised + first, out + first, warm_start,
                  /*src=*/nullptr);
    });
  });
}

void BatteryBlockSolver::MeasureExploitabilityFrom(const double* policy_sources,
                                                   const HouseholdDayInput* belief,
                                                   const HouseholdDayInput* realised,
                                                   Exploitability* out) {
  const int S = impl_->band.S;
  impl_->Visit([&](auto& sub) {
    sub.ForEach(impl_->n, [&](auto& k, int first, int) {
      SMFG_ON_ISA(ExploitDay, k, isa_, belief + first, realised + first, out + first,
                  /*warm=*/false, policy_sources + static_cast<size_t>(first) * S);
    });
  });
}

int BatteryBlockSolver::soc_levels() const { return impl_->band.S; }

size_t BatteryBlockSolver::policy_table_size() const {
  return static_cast<size_t>(kHoursPerDay) * impl_->band.S * impl_->band.A;
}

void BatteryBlockSolver::Follow(const double* tables, const HouseholdDayInput* in,
                                HouseholdDayOutcome* out) {
  const size_t per_lane = policy_table_size();
  impl_->Visit([&](auto& sub) {
    sub.ForEach(impl_->n, [&](auto& k, int first, int) {
      SMFG_ON_ISA(FollowDay, k, isa_, tables + first * per_lane, in + first, out + first);
    });
  });
}

void BatteryBlockSolver::MeasurePolicyExploitability(const double* tables,
                                                     const HouseholdDayInput* realised,
                                                     Exploitability* out) {
  const size_t per_lane = policy_table_size();
  impl_->Visit([&](auto& sub) {
    sub.ForEach(impl_->n, [&](auto& k, int first, int) {
      SMFG_ON_ISA(ExploitPolicyDay, k, isa_, tables + first * per_lane, realised + first,
                  out + first);
    });
  });
}

void BatteryBlockSolver::CopyPolicy(int lane, double* table) const {
  const Band& b = impl_->band;
  std::fill(table, table + policy_table_size(), 0.0);
  impl_->Visit([&](auto& sub) {
    constexpr int W = std::remove_reference_t<decltype(*sub.k[0])>::kWidth;
    const auto& k = *sub.k[lane / W];
    for (int h = 0; h < kHoursPerDay; ++h) {
      for (int s = 0; s < b.S; ++s) {
        for (int a = b.lo[s]; a < b.hi[s]; ++a) {
          table[(static_cast<size_t>(h) * b.S + s) * b.A + a] =
              k.pi[h * b.size + b.off[s] - b.lo[s] + a][lane % W];
        }
      }
    }
  });
}

#undef SMFG_ON_ISA

bool MoveFeasible(const FollowerParams& params, const BatterySpec& battery, int soc_level,
                  int move) {
  const int S = params.soc_levels;
  if (soc_level + move < 0 || soc_level + move > S - 1) return false;
  return WithinPowerLimit(battery, MovePower(battery, S, move));
}

absl::Status ValidatePolicyTable(const FollowerParams& params, const BatterySpec& battery,
                                 const double* table) {
  const int S = params.soc_levels, K = params.max_soc_steps_per_hour, A = 2 * K + 1;
  for (int h = 0; h < kHoursPerDay; ++h) {
    for (int s = 0; s < S; ++s) {
      double sum = 0;
      for (int a = 0; a < A; ++a) {
        const double p = table[(static_cast<size_t>(h) * S + s) * A + a];
        const int move = a - K;
        const std::string where = absl::StrFormat("hour %d, SoC level %d, move %+d", h, s, move);
        if (!(p >= 0.0 && p <= 1.0)) {
          return absl::InvalidArgumentError(
              absl::StrFormat("policy table: %s: probability %g is not in [0, 1]", where, p));
        }
        if (p == 0.0) continue;
        if (s + move < 0 || s + move > S - 1) {
          return absl::InvalidArgumentError(
              absl::StrFormat("policy table: %s: probability %g on a move off the SoC grid 0..%d",
                              where, p, S - 1));
        }
        const double power = MovePower(battery, S, move);
        if (!WithinPowerLimit(battery, power)) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "policy table: %s: probability %g on a move of %.4g kW, beyond the %g kW limit",
              where, p, power, battery.power_kw));
        }
        sum += p;
      }
      if (std::fabs(sum - 1.0) > kPolicyTableSumTolerance) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "policy table: hour %d, SoC level %d: probabilities sum to %.17g, not 1", h, s, sum));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> SampleDay(const FollowerParams& params, const BatterySpec& battery,
                              const HouseholdDayInput& in, const double* table, int start_level,
                              CounterRng* rng, PolicyStep* steps) {
  const int S = params.soc_levels, K = params.max_soc_steps_per_hour, A = 2 * K + 1;
  if (start_level < 0 || start_level >= S) {
    return absl::InvalidArgumentError(
        absl::StrFormat("start_level: %d is not a SoC level in [0, %d)", start_level, S));
  }
  const double wear = params.battery_wear_usd_per_kwh;
  int s = start_level;
  for (int h = 0; h < kHoursPerDay; ++h) {
    const int move = rng->Categorical(table + (static_cast<size_t>(h) * S + s) * A, A) - K;
    const double reward =
        MoveReward<double>(in.demand_kwh[h] - in.pv_kwh[h], in.import_rate_per_kwh[h],
                           in.export_credit_per_kwh[h], MovePower(battery, S, move), wear);
    steps[h] = PolicyStep{.hour = h, .soc_level = s, .move = move, .reward_usd = reward};
    s += move;
  }
  return s;
}

void BatteryBlockSolver::CopyPolicySources(double* out) const {
  const int S = impl_->band.S;
  impl_->Visit([&](auto& sub) {
    sub.ForEach(impl_->n, [&](auto& k, int first, int used) {
      for (int l = 0; l < used; ++l) {
        for (int s = 0; s < S; ++s) out[static_cast<size_t>(first + l) * S + s] = k.v_src[s][l];
      }
    });
  });
}

std::vector<double> BatteryBlockSolver::MidnightValues(int lane) const {
  std::vector<double> v(impl_->band.S);
  impl_->Visit([&](auto& sub) {
    constexpr int W = std::remove_reference_t<decltype(*sub.k[0])>::kWidth;
    for (int s = 0; s < impl_->band.S; ++s) v[s] = sub.k[lane / W]->v0[s][lane % W];
  });
  return v;
}

std::vector<double> BatteryBlockSolver::MidnightDistribution(int lane) const {
  std::vector<double> v(impl_->band.S);
  impl_->Visit([&](auto& sub) {
    constexpr int W = std::remove_reference_t<decltype(*sub.k[0])>::kWidth;
    for (int s = 0; s < impl_->band.S; ++s) v[s] = sub.k[lane / W]->mu[s][lane % W];
  });
  return v;
}

void NoBatteryOutcome(const HouseholdDayInput& in, HouseholdDayOutcome* out) {
  *out = HouseholdDayOutcome{};
  for (int h = 0; h < kHoursPerDay; ++h) {
    const double n = in.demand_kwh[h] - in.pv_kwh[h];
    out->import_kwh[h] = std::max(n, 0.0);
    out->export_kwh[h] = std::max(-n, 0.0);
    out->energy_bill_usd += in.import_rate_per_kwh[h] * out->import_kwh[h] -
                            in.export_credit_per_kwh[h] * out->export_kwh[h];
  }
}

HouseholdSolver::HouseholdSolver(const FollowerParams& params)
    : params_(params), block_(params, /*lanes=*/1) {}

void HouseholdSolver::Solve(const HouseholdDayInput& in, const BatterySpec& battery,
                            HouseholdDayOutcome* out, bool warm_start) {
  if (battery.capacity_kwh <= 0 || params_.myopic) {
    NoBatteryOutcome(in, out);
    return;
  }
  // SetBatteries forgets the warm start, which belongs to the same battery.
  const bool same = battery.capacity_kwh == battery_.capacity_kwh &&
                    battery.power_kw == battery_.power_kw &&
                    battery.charge_efficiency == battery_.charge_efficiency &&
                    battery.discharge_efficiency == battery_.discharge_efficiency;
  if (!warm_start || !same) {
    battery_ = battery;
    block_.SetBatteries(&battery, 1);
  }
  block_.Solve(&in, out, warm_start);
  v0_ = block_.MidnightValues(0);
  mu_ = block_.MidnightDistribution(0);
}

Exploitability HouseholdSolver::MeasureExploitability(const HouseholdDayInput& belief,
                                                      const HouseholdDayInput& realised,
                                                      const BatterySpec& battery) {
  if (battery.capacity_kwh <= 0 || params_.myopic) return {};
  Exploitability e;
  battery_ = battery;
  block_.SetBatteries(&battery, 1);
  block_.MeasureExploitability(&belief, &realised, &e, /*warm_start=*/false);
  return e;
}

}  // namespace smfg::env
