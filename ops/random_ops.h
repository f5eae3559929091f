// Random ops with autograd. The randomness is Philox4x32-10 from engine/rng.h, drawn from the Generator passed
// in (reproducible from its (seed, offset) state and identical for any thread count).
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"

namespace hm {

// Inverted dropout (torch.nn.functional.dropout): when training, each element is zeroed with probability p and
// the survivors are scaled by 1 / (1 - p); when not training, or p == 0, x itself is returned. p == 1 gives
// zeros. Consumes ceil(numel / 4) Philox counters of `gen`.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

}  // namespace hm
