#include "train/masking.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "engine/error.h"

namespace hm {

std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k, Generator& gen) {
  check(k >= 0 && k <= n, "sample_without_replacement: cannot draw ", k, " of ", n);
  // Sparse Fisher-Yates: only swapped positions are stored, so cost is O(k) for any n.
  std::unordered_map<int64_t, int64_t> swapped;
  auto at = [&](int64_t i) {
    auto it = swapped.find(i);
    return it == swapped.end() ? i : it->second;
  };
  std::vector<int64_t> out(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + int64_t(gen.next_below(uint64_t(n - i)));
    const int64_t vi = at(i), vj = at(j);
    out[size_t(i)] = vj;
    swapped[j] = vi;
    swapped[i] = vj;
  }
  return out;
}

std::vector<uint8_t> compute_mask_indices(int64_t batch, int64_t frames, const std::vector<int64_t>& valid_lengths,
                                          const MaskConfig& cfg, Generator& gen) {
  check(cfg.mask_prob >= 0 && cfg.mask_prob <= 1, "mask_prob must be in [0, 1], got ", cfg.mask_prob);
  check(cfg.mask_length >= 1, "mask_length must be >= 1, got ", cfg.mask_length);
  check(valid_lengths.empty() || int64_t(valid_lengths.size()) == batch, "compute_mask_indices: ",
        valid_lengths.size(), " lengths for a batch of ", batch);
  std::vector<uint8_t> mask(size_t(batch * frames), 0);
  if (batch == 0 || frames == 0 || cfg.mask_prob == 0) return mask;

  // "add a random number for probabilistic rounding"
  const int64_t all_num_mask =
      std::max(cfg.min_masks, int64_t(cfg.mask_prob * double(frames) / double(cfg.mask_length) + gen.next_double()));
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t sz = frames, num_mask = all_num_mask;
    if (!valid_lengths.empty()) {
      sz = valid_lengths[size_t(b)];
      check(sz >= 0 && sz <= frames, "compute_mask_indices: valid length ", sz, " outside [0, ", frames, "]");
      num_mask = std::max(cfg.min_masks, int64_t(cfg.mask_prob * double(sz) / double(cfg.mask_length) +
                                                 gen.next_double()));
    }
    if (sz <= 1) continue;
    int64_t min_len = cfg.mask_length;
    if (sz - min_len <= num_mask) min_len = sz - num_mask - 1;  // fairseq: shrink the start range for short rows
    // (deviation) fairseq would fail in np.random.choice when even that leaves fewer starts than spans; we draw
    // as many distinct starts as exist instead.
    const int64_t n_starts = std::max<int64_t>(sz - min_len, 1);
    const int64_t draws = std::min(num_mask, n_starts);
    std::vector<int64_t> idx;
    for (int64_t s : sample_without_replacement(n_starts, draws, gen))
      for (int64_t o = 0; o < cfg.mask_length; ++o)
        if (s + o < sz) idx.push_back(s + o);
    std::sort(idx.begin(), idx.end());
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    rows[size_t(b)] = std::move(idx);
  }
  // require_same_masks: every row keeps a random subset of the smallest count.
  size_t min_count = rows[0].size();
  for (const auto& r : rows) min_count = std::min(min_count, r.size());
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t>& r = rows[size_t(b)];
    if (r.size() > min_count) {
      std::vector<int64_t> keep;
      for (int64_t k : sample_without_replacement(int64_t(r.size()), int64_t(min_count), gen)) keep.push_back(r[size_t(k)]);
      r = std::move(keep);
    }
    for (int64_t t : r) mask[size_t(b * frames + t)] = 1;
  }
  return mask;
}

}  // namespace hm
