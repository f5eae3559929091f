// CTC decoding: greedy (best path) on hand-made frames, prefix beam search against an exhaustive enumeration of
// all alignments, beam width 1 against greedy, and a case where the beam finds the labeling greedy misses.
#include <cmath>
#include <map>

#include "engine/rng.h"
#include "tests/test_util.h"
#include "train/decode.h"

namespace hm::test {
namespace {

using Ids = std::vector<int32_t>;

// (T, V) log-probabilities from per-frame probabilities.
std::vector<float> log_of(const std::vector<std::vector<double>>& probs) {
  std::vector<float> out;  // (T, V)
  for (const auto& row : probs)
    for (double p : row) out.push_back(float(std::log(p)));
  return out;
}

// One frame per entry of `argmax`: that id gets probability `p`, the others share the rest equally.
std::vector<float> peaked(const Ids& argmax, int64_t V, double p) {
  std::vector<std::vector<double>> probs;
  for (int32_t a : argmax) {
    std::vector<double> row(size_t(V), (1 - p) / double(V - 1));
    row[size_t(a)] = p;
    probs.push_back(row);
  }
  return log_of(probs);
}

// Random frames: a random id gets probability in [p_min, 1), the others share the rest at random.
std::vector<float> random_frames(Generator& gen, int64_t T, int64_t V, double p_min) {
  std::vector<std::vector<double>> probs;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t top = int64_t(gen.next_below(uint64_t(V)));
    const double p_top = p_min + (1 - p_min) * 0.99 * gen.next_double();
    std::vector<double> row(static_cast<size_t>(V));
    double rest = 0;
    for (int64_t v = 0; v < V; ++v) rest += row[size_t(v)] = v == top ? 0 : 1e-3 + gen.next_double();
    for (int64_t v = 0; v < V; ++v) row[size_t(v)] = v == top ? p_top : (1 - p_top) * row[size_t(v)] / rest;
    probs.push_back(row);
  }
  return log_of(probs);
}

// Exact P(labeling | x) for every labeling: sum over all V^T alignments of the product of their frame
// probabilities, each alignment collapsed (merge repeats, drop blanks) to its labeling.
std::map<Ids, double> all_labelings(const std::vector<float>& lp, int64_t T, int64_t V, int32_t blank) {
  std::map<Ids, double> out;
  std::vector<int32_t> path(size_t(T), 0);
  while (true) {
    double logp = 0;
    Ids label;
    for (int64_t t = 0; t < T; ++t) {
      const int32_t c = path[size_t(t)];
      logp += lp[size_t(t * V + c)];
      if (c != blank && (t == 0 || path[size_t(t - 1)] != c)) label.push_back(c);
    }
    out[label] += std::exp(logp);
    int64_t t = 0;  // next path: count in base V
    while (t < T && ++path[size_t(t)] == V) path[size_t(t++)] = 0;
    if (t == T) break;
  }
  return out;
}

TEST(CtcGreedy, CollapsesRepeatsUnlessABlankSeparatesThem) {
  const int64_t V = 4;  // 0 = blank
  // Frames: a a _ a b b _ _ b c -> a (a a merge), a (after a blank: new label), b, b, c.
  const Ids frames = {1, 1, 0, 1, 2, 2, 0, 0, 2, 3};
  const std::vector<float> lp = peaked(frames, V, 0.7);
  EXPECT_EQ(ctc_greedy_decode(lp.data(), 10, V, 10), (Ids{1, 1, 2, 2, 3}));
  // Only the valid length is decoded: the padded frames 6.. do not count.
  EXPECT_EQ(ctc_greedy_decode(lp.data(), 10, V, 6), (Ids{1, 1, 2}));
  EXPECT_EQ(ctc_greedy_decode(lp.data(), 10, V, 0), Ids{});
  const std::vector<float> blanks = peaked({0, 0, 0}, V, 0.9);
  EXPECT_EQ(ctc_greedy_decode(blanks.data(), 3, V, 3), Ids{});
  // Another blank id: here id 3 is the blank and 0 a label.
  const std::vector<float> lp3 = peaked({0, 0, 3, 0, 1, 3}, V, 0.7);
  EXPECT_EQ(ctc_greedy_decode(lp3.data(), 6, V, 6, 3), (Ids{0, 0, 1}));
  // Ties go to the lowest id, as torch.argmax.
  const std::vector<float> tie = log_of({{0.2, 0.4, 0.4, 0.0 + 1e-9}});
  EXPECT_EQ(ctc_greedy_decode(tie.data(), 1, V, 1), Ids{1});
}

TEST(CtcGreedy, TensorAndBatchForms) {
  const int64_t V = 3;
  const std::vector<float> a = peaked({1, 1, 0, 2}, V, 0.8), b = peaked({2, 0, 2, 2}, V, 0.8);
  std::vector<float> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  const Tensor batch = from_vector(ab, {2, 4, V});  // (B, T, V)
  EXPECT_EQ(ctc_greedy_decode_batch(batch, {4, 3}), (std::vector<Ids>{{1, 2}, {2, 2}}));
  // A non-contiguous (T, V) view decodes like its contiguous copy.
  const Tensor vt = from_vector(a, {4, V}).transpose(0, 1).contiguous().transpose(0, 1);  // (T, V), strided
  ASSERT_FALSE(vt.is_contiguous());
  EXPECT_EQ(ctc_greedy_decode(vt, 4), (Ids{1, 2}));
  EXPECT_EQ(ctc_beam_decode_batch(batch, {4, 4}, {4, 1, 0}), (std::vector<Ids>{{1, 2}, {2, 2}}));
}

TEST(CtcGreedy, RejectsBadInput) {
  std::vector<float> lp = peaked({1, 0, 2}, 3, 0.8);
  EXPECT_TRUE(throws_with([&] { ctc_greedy_decode(lp.data(), 3, 3, 4); }, "valid length 4 outside [0, T = 3]"));
  EXPECT_TRUE(throws_with([&] { ctc_greedy_decode(lp.data(), 3, 3, 3, 3); }, "blank id 3 outside [0, V = 3)"));
  lp[1 * 3 + 2] = std::nanf("");
  EXPECT_TRUE(throws_with([&] { ctc_greedy_decode(lp.data(), 3, 3, 3); }, "ctc_greedy_decode: log_probs[1, 2] is nan"));
  EXPECT_TRUE(
      throws_with([&] { ctc_prefix_beam_search(lp.data(), 3, 3, 3); }, "ctc_prefix_beam_search: log_probs[1, 2]"));
  // The NaN lies beyond the valid length: not decoded, not an error.
  EXPECT_EQ(ctc_greedy_decode(lp.data(), 3, 3, 1), Ids{1});
  EXPECT_TRUE(throws_with([&] { ctc_prefix_beam_search(lp.data(), 3, 3, 1, {0, 1, 0}); }, "beam (0)"));
  const Tensor f64 = zeros({3, 3}, DType::f64);
  EXPECT_TRUE(throws_with([&] { ctc_greedy_decode(f64, 3); }, "log_probs must be float32, got float64"));
  EXPECT_TRUE(throws_with([&] { ctc_greedy_decode(zeros({3}), 3); }, "must have 2 dims (T, V), got (3,)"));
  EXPECT_TRUE(throws_with([&] { ctc_greedy_decode_batch(zeros({2, 3, 3}), {3}); }, "1 lengths for a batch of 2"));
}

TEST(CtcBeam, ScoresAreExactLabelProbabilitiesWhenNothingIsPruned) {
  // With a beam wider than the number of prefixes, the search keeps every alignment: each hypothesis's score
  // must be the exact CTC probability of its labeling, and all labelings must come back, best first.
  Generator gen(7);
  for (const auto& [T, V, blank] :
       std::vector<std::tuple<int64_t, int64_t, int32_t>>{{5, 3, 0}, {4, 4, 0}, {6, 3, 2}}) {
    const std::vector<float> lp = random_frames(gen, T, V, 0.0);
    const std::map<Ids, double> exact = all_labelings(lp, T, V, blank);
    const std::vector<CtcHypothesis> hyps = ctc_prefix_beam_search(lp.data(), T, V, T, {100000, 100000, blank});
    ASSERT_EQ(hyps.size(), exact.size()) << "T " << T << " V " << V;
    for (size_t i = 0; i < hyps.size(); ++i) {
      ASSERT_TRUE(exact.count(hyps[i].tokens));
      EXPECT_NEAR(hyps[i].log_prob, std::log(exact.at(hyps[i].tokens)), 1e-9);
      if (i > 0) {
        EXPECT_GE(hyps[i - 1].log_prob, hyps[i].log_prob);
      }
    }
    double total = 0;
    for (const CtcHypothesis& h : hyps) total += std::exp(h.log_prob);
    EXPECT_NEAR(total, 1.0, 1e-5);  // float32 frames sum to 1 within rounding
  }
}

TEST(CtcBeam, WidthOneEqualsGreedyOnConfidentFrames) {
  // Claim: if every frame's most probable id has probability q > 1 - 1/sqrt(2) ~ 0.707, prefix beam search with
  // width 1 returns the greedy labeling. Sketch (eps = 1 - q, beam state (pb, pnb), P = pb + pnb, prefix l that
  // equals greedy's so far; by induction pb >= (q/eps) pnb after a greedy blank frame and pb <= eps/(1-2eps) pnb
  // after a greedy label frame):
  //   argmax blank: l keeps >= qP, every extension gets <= eps P;
  //   argmax c != last(l): l + c gets >= qP, l gets P(y_blank + y_last) <= eps P;
  //   argmax = last(l) after a greedy blank: l + last gets pb y_c > pb y_blank + pnb (y_blank + y_c) iff
  //     eps (2 - eps) < (1 - eps)^2, i.e. eps < 1 - 1/sqrt(2);
  //   argmax = last(l) after the same label: l gets >= pnb y_c > pb y_c (eps < 1/3) and > P y_other.
  // Checked here on random frames with q >= 0.75, every length and vocabulary size up to 30 x 6.
  Generator gen(11);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t T = 1 + trial % 30, V = 2 + trial % 5;
    const int32_t blank = trial % 3 == 0 ? int32_t(V - 1) : 0;
    const std::vector<float> lp = random_frames(gen, T, V, 0.75);
    const std::vector<CtcHypothesis> beam = ctc_prefix_beam_search(lp.data(), T, V, T, {1, 1, blank});
    ASSERT_EQ(beam.size(), 1u);
    ASSERT_EQ(beam[0].tokens, ctc_greedy_decode(lp.data(), T, V, T, blank)) << "trial " << trial;
  }
  // And on hand-made frames through the tensor API.
  const std::vector<float> lp = peaked({1, 1, 0, 1, 2, 2, 0, 0, 2}, 3, 0.9);
  const Tensor x = from_vector(lp, {9, 3});
  EXPECT_EQ(ctc_prefix_beam_search(x, 9, {1, 1, 0})[0].tokens, ctc_greedy_decode(x, 9));
}

TEST(CtcBeam, FindsTheLabelingGreedyMisses) {
  // Two frames, each blank 0.6 / a 0.4. Greedy takes the best single path "_ _" -> "" (P = 0.36), but "a" has
  // three alignments, a_, _a, aa: P = 0.24 + 0.24 + 0.16 = 0.64.
  const std::vector<float> lp = log_of({{0.6, 0.4}, {0.6, 0.4}});
  EXPECT_EQ(ctc_greedy_decode(lp.data(), 2, 2, 2), Ids{});
  // Prefixes of probability 0 (here "aa": two a's need a blank between them) are dropped, so 2 of 3 come back.
  const std::vector<CtcHypothesis> nbest = ctc_prefix_beam_search(lp.data(), 2, 2, 2, {4, 3, 0});
  ASSERT_EQ(nbest.size(), 2u);
  EXPECT_EQ(nbest[0].tokens, Ids{1});
  EXPECT_NEAR(nbest[0].log_prob, std::log(0.64), 1e-6);
  EXPECT_EQ(nbest[1].tokens, Ids{});
  EXPECT_NEAR(nbest[1].log_prob, std::log(0.36), 1e-6);

  // On unconfident frames even width 1 can differ from greedy, because it ranks prefixes by all their
  // alignments: greedy reads a _ a -> "aa" (P("aa") = 0.108 exactly), width 1 keeps "a" scored 0.2484 by the
  // alignments a__, aa_, aaa it kept (a lower bound: exact P("a") = 0.426, the prefix "" was pruned at t = 0).
  const std::vector<float> flat = log_of({{0.4, 0.6, 1e-9}, {0.5, 0.4, 0.1}, {0.3, 0.36, 0.34}});
  EXPECT_EQ(ctc_greedy_decode(flat.data(), 3, 3, 3), (Ids{1, 1}));
  const std::vector<CtcHypothesis> one = ctc_prefix_beam_search(flat.data(), 3, 3, 3, {1, 1, 0});
  EXPECT_EQ(one[0].tokens, Ids{1});
  EXPECT_NEAR(one[0].log_prob, std::log(0.2484), 1e-6);
  const std::map<Ids, double> exact = all_labelings(flat, 3, 3, 0);
  EXPECT_NEAR(exact.at({1}), 0.426, 1e-6);
  EXPECT_NEAR(exact.at({1, 1}), 0.108, 1e-6);
}

}  // namespace
}  // namespace hm::test
