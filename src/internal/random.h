// Deterministic random numbers and hashing that give the same bits on every
// platform and standard library (std:: distributions and std::hash do not),
// so seeded splits, generated data and learned projections are reproducible.
#ifndef ROUTER_INTERNAL_RANDOM_H_
#define ROUTER_INTERNAL_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <string_view>

namespace router::internal {

// splitmix64 (Steele, Lea and Flood 2014): a tiny generator with good output.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n > 0.
  int Below(int n) { return static_cast<int>(Uniform() * n); }

  // Standard normal, by Box-Muller.
  double Gaussian() {
    const double u1 = (static_cast<double>(Next() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = Uniform();
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
  }

 private:
  uint64_t state_;
};

// splitmix64's output function applied to `x`: a bijection spreading every bit.
inline uint64_t Mix64(uint64_t x) { return SplitMix64(x).Next(); }

// FNV-1a over `bytes`.
inline uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_RANDOM_H_
