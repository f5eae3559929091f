// Span masking for masked prediction: fairseq's compute_mask_indices (fairseq/data/data_utils.py) with the
// options HuBERT uses: mask_type "static", no_overlap False, min_space 0, require_same_masks True,
// mask_dropout 0 (SPEC.md 6).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/rng.h"

namespace hm {

struct MaskConfig {
  double mask_prob = 0.8;
  int64_t mask_length = 10;
  int64_t min_masks = 2;
};

// Returns a (B, T) row-major mask, 1 = masked. valid_lengths (size B, optional: empty = all T) excludes padded
// frames. Per utterance: num_mask = max(min_masks, int(mask_prob * T / mask_length + U[0,1))); span starts drawn
// without replacement from [0, T - mask_length) (shrunk when the utterance is too short); spans may overlap; then
// every row is subsampled to the smallest masked count in the batch so all rows mask the same number of frames.
std::vector<uint8_t> compute_mask_indices(int64_t batch, int64_t frames, const std::vector<int64_t>& valid_lengths,
                                          const MaskConfig& cfg, Generator& gen);

// k distinct integers from [0, n) (partial Fisher-Yates), in draw order.
std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k, Generator& gen);

}  // namespace hm
