// Random ops with autograd. The randomness is Philox4x32-10 from engine/rng.h, drawn from the Generator passed
// in (reproducible from its (seed, offset) state and identical for any thread count and on either device).
#pragma once
#include <cstdint>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// Inverted dropout (torch.nn.functional.dropout): when training, each element is zeroed with probability p and
// the survivors are scaled by 1 / (1 - p); when not training, or p == 0, x itself is returned. p == 1 gives
// zeros. Consumes ceil(numel / 4) Philox counters of `gen`. A CUDA tensor gets the same mask as the same tensor
// on the CPU for the same Generator state.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

// y = x * mask, mask[i] = 0 or 1 / (1 - p) from Philox block (counter + i / 4) of `key`, word i % 4
// (cpu/elementwise_scalar.h dropout).                              x, y, mask: (n)
template <class T>
using DropoutFn = void (*)(const T* x, T* y, T* mask, int64_t n, double p, uint64_t key, uint64_t counter);

// Kernel tables "dropout_f32" / "dropout_f64": "scalar" on the CPU; "cuda_philox" in the "@cuda" tables (filled by
// ops/random_ops_cuda.cpp in CUDA builds), bit-identical to the scalar variant.
template <class T>
KernelTable<DropoutFn<T>>& dropout_table();
template <class T>
KernelTable<DropoutFn<T>>& dropout_cuda_table();

}  // namespace hm
