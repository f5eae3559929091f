// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the generator behind cuRAND and PyTorch's CUDA RNG). Element i of a draw uses counter (offset + i/4), so
// results are identical for any thread count and can be reproduced on the GPU. A Generator is (seed, offset);
// saving both in a checkpoint resumes the stream exactly.
#pragma once
#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace hm {

// One Philox4x32-10 block: 4 random 32-bit words for (key, counter).
std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_lo, uint64_t counter_hi);

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserve `n_blocks` counters and return the first; every draw advances the offset.
  uint64_t reserve(uint64_t n_blocks) {
    const uint64_t first = offset_;
    offset_ += n_blocks;
    return first;
  }
  // Scalar draws for host-side logic (shuffles, masking): one block each.
  uint32_t next_u32() { return philox4x32(seed_, reserve(1), 0)[0]; }
  double next_double();                  // uniform [0, 1) with 53 random bits
  uint64_t next_below(uint64_t bound);   // uniform integer in [0, bound), unbiased

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The process-wide generator used when none is passed (seeded by manual_seed / --seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

// Fill a contiguous float tensor in place.
void fill_uniform(const Tensor& t, double low, double high, Generator& gen = default_generator());
void fill_normal(const Tensor& t, double mean, double stddev, Generator& gen = default_generator());

Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator& gen = default_generator());   // U[0,1)
Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator& gen = default_generator());  // N(0,1)
Tensor uniform(const Shape& shape, double low, double high, DType dtype = DType::f32,
               Generator& gen = default_generator());

}  // namespace hm
