#include "engine/rng.h"

#include <cmath>

namespace hm {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_lo, uint64_t counter_hi) {
  // Constants from the Random123 reference implementation.
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(counter_lo), c1 = uint32_t(counter_lo >> 32);
  uint32_t c2 = uint32_t(counter_hi), c3 = uint32_t(counter_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kM0) * c0, p1 = uint64_t(kM1) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += kW0;
    k1 += kW1;
  }
  return {c0, c1, c2, c3};
}

double Generator::next_double() {
  const auto r = philox4x32(seed_, reserve(1), 0);
  const uint64_t bits = (uint64_t(r[0]) << 21) ^ (uint64_t(r[1]) >> 11);  // 53 bits
  return double(bits & ((uint64_t(1) << 53) - 1)) * 0x1.0p-53;
}

uint64_t Generator::next_below(uint64_t bound) {
  check(bound > 0, "Generator::next_below: bound must be positive");
  // Rejection sampling on 64-bit words keeps the distribution exactly uniform.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  while (true) {
    const auto r = philox4x32(seed_, reserve(1), 0);
    const uint64_t x = (uint64_t(r[0]) << 32) | r[1];
    if (x < limit) return x % bound;
  }
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

namespace {

// u32 -> uniform in (0, 1]: never 0 so that log() in Box-Muller is finite.
inline double to_unit(uint32_t x) { return (double(x) + 1.0) * 0x1.0p-32; }

template <class T, class F>
void fill_blocks(const Tensor& t, Generator& gen, F&& per_block) {
  check(t.is_contiguous(), "random fill: tensor must be contiguous, got strides ", t.strides());
  T* p = t.data<T>();
  const int64_t n = t.numel();
  const int64_t blocks = (n + 3) / 4;
  const uint64_t base = gen.reserve(uint64_t(blocks));
  const uint64_t key = gen.seed();
#pragma omp parallel for schedule(static) if (blocks > 4096)
  for (int64_t b = 0; b < blocks; ++b) {
    const auto r = philox4x32(key, base + uint64_t(b), 0);
    double v[4];
    per_block(r, v);
    for (int64_t j = 0; j < 4 && b * 4 + j < n; ++j) p[b * 4 + j] = T(v[j]);
  }
}

}  // namespace

void fill_uniform(const Tensor& t, double low, double high, Generator& gen) {
  dispatch_float(t.dtype(), "fill_uniform", [&](auto tag) {
    using T = decltype(tag);
    fill_blocks<T>(t, gen, [&](const std::array<uint32_t, 4>& r, double* v) {
      for (int j = 0; j < 4; ++j) v[j] = low + (high - low) * (double(r[j]) * 0x1.0p-32);
    });
  });
}

void fill_normal(const Tensor& t, double mean, double stddev, Generator& gen) {
  dispatch_float(t.dtype(), "fill_normal", [&](auto tag) {
    using T = decltype(tag);
    // Box-Muller: two uniforms -> two independent normals.
    fill_blocks<T>(t, gen, [&](const std::array<uint32_t, 4>& r, double* v) {
      for (int j = 0; j < 4; j += 2) {
        const double radius = std::sqrt(-2.0 * std::log(to_unit(r[j])));
        const double angle = 2.0 * M_PI * (double(r[j + 1]) * 0x1.0p-32);
        v[j] = mean + stddev * radius * std::cos(angle);
        v[j + 1] = mean + stddev * radius * std::sin(angle);
      }
    });
  });
}

Tensor rand(const Shape& shape, DType dtype, Generator& gen) { return uniform(shape, 0.0, 1.0, dtype, gen); }

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator& gen) {
  Tensor t = empty(shape, dtype);
  fill_uniform(t, low, high, gen);
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Generator& gen) {
  Tensor t = empty(shape, dtype);
  fill_normal(t, 0.0, 1.0, gen);
  return t;
}

}  // namespace hm
