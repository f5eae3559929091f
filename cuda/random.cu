// CUDA dropout (cuda/random.h). The Philox rounds are engine/rng.cpp philox4x32 transcribed: same constants, same
// word order, same counter split, so a Generator state gives the same mask on both devices.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/random.h"

namespace hm::cuda {
namespace {

struct Words {
  uint32_t w[4];
};

// Philox4x32-10 for (key, counter_lo, counter_hi = 0); constants from the Random123 reference implementation.
__device__ __forceinline__ Words philox4x32(uint64_t key, uint64_t counter_lo) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(counter_lo), c1 = uint32_t(counter_lo >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(kM0, c0), lo0 = kM0 * c0;
    const uint32_t hi1 = __umulhi(kM1, c2), lo1 = kM1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += kW0;
    k1 += kW1;
  }
  return {{c0, c1, c2, c3}};
}

template <class T>
__global__ void dropout_kernel(const T* x, T* y, T* mask, int64_t n, uint64_t threshold, T scale, uint64_t key,
                               uint64_t counter) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x) {
    const Words r = philox4x32(key, counter + uint64_t(b));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t i = b * 4 + j;
      if (i < n) {
        const T m = uint64_t(r.w[j]) >= threshold ? scale : T(0);
        mask[i] = m;
        y[i] = x[i] * m;
      }
    }
  }
}

}  // namespace

template <class T>
void dropout(const T* x, T* y, T* mask, int64_t n, double p, uint64_t key, uint64_t counter) {
  if (n == 0) return;
  // keep <=> word >= p * 2^32, so P(keep) = 1 - p up to 2^-32; p == 1 keeps nothing (threshold 2^32). The scale is
  // rounded on the host exactly as the CPU kernel rounds it.
  const uint64_t threshold = uint64_t(std::ldexp(p, 32));
  const T scale = p < 1 ? T(1.0 / (1.0 - p)) : T(0);
  dropout_kernel<<<grid_for((n + 3) / 4, detail::kThreads), detail::kThreads, 0, stream()>>>(x, y, mask, n, threshold,
                                                                                             scale, key, counter);
  check_launch("dropout_kernel");
}

template void dropout<float>(const float*, float*, float*, int64_t, double, uint64_t, uint64_t);
template void dropout<double>(const double*, double*, double*, int64_t, double, uint64_t, uint64_t);

}  // namespace hm::cuda
