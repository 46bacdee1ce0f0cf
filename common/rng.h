// Counter-based random numbers for the determinism contract (DESIGN §4).
//
// Every stream is keyed by (seed, purpose, id, iteration); the n-th draw of a stream
// is a pure function of the key and n, so results never depend on which worker or
// thread computes them, or in which order. The generator is SplitMix64's finaliser
// applied to a mixed key (a well-tested 64-bit bijective mixer); distributions are
// spelled out here rather than taken from <random>, whose distributions are
// implementation-defined.
#ifndef SMFG_COMMON_RNG_H_
#define SMFG_COMMON_RNG_H_

#include <cstdint>

namespace smfg {

// Purposes keep streams for different uses independent even with equal ids.
enum class RngPurpose : uint64_t {
  kHouseholdParams = 1,
  kDayWeather = 2,
  kDayDemand = 3,
  kHouseholdDayNoise = 4,
  kLeaderPolicy = 5,
  kFollowerPolicy = 6,   // learning followers' initial networks
  kFollowerRollout = 7,  // their sampled episodes
  kTest = 99,
};

// SplitMix64 finaliser: a bijection on 64-bit integers with good avalanche.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class CounterRng {
 public:
  CounterRng(uint64_t seed, RngPurpose purpose, uint64_t id, uint64_t iteration = 0)
      : key_(Mix64(Mix64(Mix64(seed ^ 0x9e3779b97f4a7c15ULL) ^
                         (static_cast<uint64_t>(purpose) * 0xd1b54a32d192ed03ULL)) ^
                   (id * 0x8cb92ba72f3d8dd7ULL)) ^
             Mix64(iteration + 0x632be59bd9b4e019ULL)) {}

  // The n-th raw 64-bit output; NextU64 advances an internal counter.
  uint64_t At(uint64_t n) const { return Mix64(key_ + (n + 1) * 0x9e3779b97f4a7c15ULL); }
  uint64_t NextU64() { return At(counter_++); }

  // Uniform on [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  // Uniform on [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal by Box-Muller (one value per call; the sine branch is unused so
  // that each call consumes exactly two draws).
  double Normal();
  // Index in [0, n) with probabilities proportional to weights[0..n).
  int Categorical(const double* weights, int n);

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace smfg

#endif  // SMFG_COMMON_RNG_H_
