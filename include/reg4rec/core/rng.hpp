// Seeded random numbers. xoshiro256** seeded through splitmix64: fast, small state (four
// words, saved in checkpoints), and the same stream on every platform. The distributions are
// written here rather than taken from <random>, whose normal_distribution differs between
// standard libraries; same seed gives the same numbers everywhere.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec {

class rng {
 public:
  using result_type = std::uint64_t;
  using state_type = std::array<std::uint64_t, 4>;

  explicit rng(std::uint64_t seed = 0x5eed5eedULL) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept {
    std::uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1).
  template <class T = double>
  T uniform() noexcept {
    if constexpr (std::is_same_v<T, float>)
      return static_cast<float>((*this)() >> 40) * 0x1.0p-24f;
    else
      return static_cast<T>((*this)() >> 11) * T(0x1.0p-53);
  }

  /// Uniform in [lo, hi).
  template <class T>
  T uniform(T lo, T hi) noexcept {
    return lo + (hi - lo) * uniform<T>();
  }

  /// Standard normal (Box–Muller; one draw per call, no cached spare, so the state is only s_).
  template <class T = double>
  T normal() noexcept {
    double u1 = uniform<double>();
    const double u2 = uniform<double>();
    if (u1 < 1e-300) u1 = 1e-300;
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

  template <class T>
  T normal(T mean, T stddev) noexcept {
    return mean + stddev * normal<T>();
  }

  /// Uniform integer in [0, n) without modulo bias (Lemire's multiply-shift rejection).
  std::uint64_t below(std::uint64_t n) {
    require(n > 0, "rng::below: n must be positive");
    unsigned __int128 m = static_cast<unsigned __int128>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// True with probability p.
  bool bernoulli(double p) noexcept { return uniform<double>() < p; }

  /// Fisher–Yates shuffle of [first, last).
  template <class It>
  void shuffle(It first, It last) {
    const auto n = static_cast<std::uint64_t>(last - first);
    for (std::uint64_t i = n; i > 1; --i) {
      const std::uint64_t j = below(i);
      using std::swap;
      swap(first[i - 1], first[j]);
    }
  }

  /// An independent generator for sub-stream `stream` (a thread, a row, a user), derived
  /// from this generator's state without advancing it, so results do not depend on how work
  /// is split across threads.
  rng fork(std::uint64_t stream) const noexcept {
    std::uint64_t x = s_[0] ^ rotl(s_[1], 13) ^ rotl(s_[2], 29) ^ rotl(s_[3], 47);
    x ^= splitmix64_value(stream + 0x9e3779b97f4a7c15ULL);
    return rng(x);
  }

  const state_type& state() const noexcept { return s_; }
  void set_state(const state_type& s) {
    if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0)
      throw value_error("rng::set_state: the all-zero state is invalid for xoshiro256**");
    s_ = s;
  }

  friend bool operator==(const rng& a, const rng& b) noexcept { return a.s_ == b.s_; }
  friend bool operator!=(const rng& a, const rng& b) noexcept { return !(a == b); }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  static std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    return splitmix64_value(x);
  }
  static constexpr std::uint64_t splitmix64_value(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  state_type s_{};
};

}  // namespace reg4rec
