// CUDA random kernels: inverted dropout with Philox4x32-10 (Salmon et al., SC'11), bit-identical to the CPU
// dropout (cpu/elementwise_scalar.cpp dropout, engine/rng.cpp philox4x32) for the same (key, counter): element i
// uses word i % 4 of the block for counter (counter + i / 4). Raw device pointers (DESIGN.md 1); T float or double.
#pragma once
#include <cstdint>

namespace hm::cuda {

// mask[i] = word_i >= p * 2^32 ? 1 / (1 - p) : 0 (p == 1: 0),  y[i] = x[i] * mask[i].     x, y, mask: (n)
// Consumes ceil(n / 4) counters starting at `counter`; one thread per Philox block.
template <class T>
void dropout(const T* x, T* y, T* mask, int64_t n, double p, uint64_t key, uint64_t counter);

}  // namespace hm::cuda
