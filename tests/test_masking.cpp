// Span masking follows fairseq's compute_mask_indices: span counts, equal counts across the batch, padding.
#include <set>

#include "train/masking.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(Masking, SampleWithoutReplacementIsDistinctAndUniform) {
  Generator gen(1);
  std::vector<int> hist(10, 0);
  for (int rep = 0; rep < 2000; ++rep) {
    const auto s = sample_without_replacement(10, 3, gen);
    EXPECT_EQ(std::set<int64_t>(s.begin(), s.end()).size(), 3u);
    for (int64_t v : s) hist[size_t(v)]++;
  }
  for (int h : hist) EXPECT_NEAR(h, 600, 90);  // each value drawn with probability 3/10
  EXPECT_TRUE(throws_with([&] { sample_without_replacement(3, 4, gen); }, "cannot draw 4 of 3"));
}

TEST(Masking, SpanCountsAndSameCountAcrossBatch) {
  Generator gen(7);
  const int64_t B = 4, T = 200;
  for (int rep = 0; rep < 20; ++rep) {
    const auto m = compute_mask_indices(B, T, {}, MaskConfig{}, gen);
    int64_t first = -1;
    for (int64_t b = 0; b < B; ++b) {
      int64_t count = 0;
      for (int64_t t = 0; t < T; ++t) count += m[size_t(b * T + t)];
      if (first < 0) first = count;
      EXPECT_EQ(count, first) << "rows mask different frame counts";
      // 16 or 17 spans of 10 (mask_prob 0.8 * 200 / 10 + U), overlapping: between 10 and 170 frames.
      EXPECT_GE(count, 10);
      EXPECT_LE(count, 170);
    }
  }
}

TEST(Masking, DeterministicForSeedAndRespectsPadding) {
  Generator g1(3), g2(3);
  EXPECT_EQ(compute_mask_indices(2, 50, {}, MaskConfig{}, g1), compute_mask_indices(2, 50, {}, MaskConfig{}, g2));
  Generator gen(4);
  const auto m = compute_mask_indices(2, 100, {100, 40}, MaskConfig{}, gen);
  for (int64_t t = 40; t < 100; ++t) EXPECT_EQ(m[size_t(100 + t)], 0) << "padded frame " << t << " masked";
  // Very short utterances still get min_masks worth of spans without failing.
  const auto s = compute_mask_indices(3, 5, {}, MaskConfig{}, gen);
  int64_t c = 0;
  for (auto v : s) c += v;
  EXPECT_GT(c, 0);
  EXPECT_TRUE(throws_with([&] { compute_mask_indices(2, 10, {1}, MaskConfig{}, gen); }, "1 lengths for a batch of 2"));
  EXPECT_TRUE(throws_with([&] { compute_mask_indices(1, 10, {}, MaskConfig{1.5, 10, 2}, gen); }, "mask_prob"));
}

}  // namespace
}  // namespace hm::test
