#include "train/asr_decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "engine/error.h"

namespace hm {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double log_add(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

}  // namespace

CtcPrefixScorer::CtcPrefixScorer(const float* log_probs, int64_t frames, int64_t vocab, int32_t blank, int32_t eos)
    : lp_(log_probs), T_(frames), V_(vocab), blank_(blank), eos_(eos) {
  check(log_probs != nullptr && frames >= 1 && vocab >= 2, "CtcPrefixScorer: need (T >= 1, V >= 2) log-probs, got (",
        frames, ", ", vocab, ")");
  check(blank >= 0 && blank < vocab && eos >= 0 && eos < vocab, "CtcPrefixScorer: blank ", blank, " / eos ", eos,
        " outside [0, ", vocab, ")");
  for (int64_t i = 0; i < frames * vocab; ++i)
    check(!std::isnan(log_probs[i]), "CtcPrefixScorer: log_probs[", i / vocab, ", ", i % vocab, "] is NaN");
}

CtcPrefixScorer::State CtcPrefixScorer::initial() const {
  // ESPnet initial_state: r^n = -inf, r^b_t = sum_{s <= t} x_s(blank); psi(<sos>) = 0 (probability 1).
  State s;
  s.r_n.assign(size_t(T_), kNegInf);
  s.r_b.resize(size_t(T_));
  double acc = 0;
  for (int64_t t = 0; t < T_; ++t) s.r_b[size_t(t)] = acc += lp_[t * V_ + blank_];
  return s;
}

double CtcPrefixScorer::extend(const State& g, int32_t c, State* out) const {
  check(c >= 0 && c < V_, "CtcPrefixScorer: token ", c, " outside [0, ", V_, ")");
  const size_t T = size_t(T_);
  // <eos>: the probability of exactly g = r^n_T(g) + r^b_T(g).
  if (c == eos_) return log_add(g.r_n[T - 1], g.r_b[T - 1]);
  State h;
  h.r_n.assign(T, kNegInf);
  h.r_b.assign(T, kNegInf);
  // Watanabe et al. 2017, Algorithm 2: r^n_1(h) = x_1(c) only for the empty g; phi = r^b(g) when c repeats g's
  // last label (a blank must separate them), else r^b(g) + r^n(g).
  h.r_n[0] = g.empty ? double(lp_[c]) : kNegInf;
  double psi = h.r_n[0];
  for (size_t t = 1; t < T; ++t) {
    const double phi = c == g.last ? g.r_b[t - 1] : log_add(g.r_n[t - 1], g.r_b[t - 1]);
    const double xc = lp_[int64_t(t) * V_ + c], xb = lp_[int64_t(t) * V_ + blank_];
    h.r_n[t] = log_add(h.r_n[t - 1], phi) + xc;
    h.r_b[t] = log_add(h.r_b[t - 1], h.r_n[t - 1]) + xb;
    psi = log_add(psi, phi + xc);
  }
  h.psi = psi;
  h.last = c;
  h.empty = false;
  if (out) *out = std::move(h);
  return psi;
}

namespace {

struct Hyp {
  std::vector<int32_t> yseq;  // <sos> first
  double score = 0;
  CtcPrefixScorer::State ctc;
};

// ESPnet end_detect (nets_utils.end_detect, M = 3, D_end = log(exp(-10))): stop when, for each of the last M
// lengths, the best hypothesis that ended with that length is more than 10 nats below the best ended overall.
bool end_detect(const std::vector<Hyp>& ended, int64_t i) {
  if (ended.empty()) return false;
  double best = kNegInf;
  for (const Hyp& h : ended) best = std::max(best, h.score);
  int count = 0;
  for (int64_t m = 0; m < 3; ++m) {
    const int64_t len = i - m;
    double best_len = kNegInf;
    bool any = false;
    for (const Hyp& h : ended)
      if (int64_t(h.yseq.size()) == len) best_len = std::max(best_len, h.score), any = true;
    if (any && best_len - best < -10.0) ++count;
  }
  return count == 3;
}

}  // namespace

JointHypothesis joint_beam_search(const float* ctc_log_probs, int64_t frames, int64_t vocab, const NextTokenScorer& att,
                                  const JointDecodeOptions& opt) {
  const char* op = "joint_beam_search";
  check(opt.beam >= 1, op, ": beam must be >= 1, got ", opt.beam);
  check(opt.ctc_weight >= 0 && opt.ctc_weight <= 1, op, ": ctc_weight must be in [0, 1], got ", opt.ctc_weight);
  check(vocab >= 2, op, ": vocab must be >= 2, got ", vocab);
  check(opt.sos_eos >= 0 && opt.sos_eos < vocab, op, ": sos/eos id ", opt.sos_eos, " outside [0, ", vocab, ")");
  const bool use_ctc = opt.ctc_weight > 0, use_att = opt.ctc_weight < 1;
  check(!use_ctc || (ctc_log_probs != nullptr && frames >= 1), op, ": ctc_weight ", opt.ctc_weight,
        " needs CTC log-probs of at least one frame");
  check(!use_att || bool(att), op, ": ctc_weight ", opt.ctc_weight, " < 1 needs an attention scorer");
  const int64_t max_len = opt.max_length > 0 ? opt.max_length : std::max<int64_t>(frames, 1);
  std::optional<CtcPrefixScorer> ctc;
  if (use_ctc) ctc.emplace(ctc_log_probs, frames, vocab, opt.blank, opt.sos_eos);
  // Candidates scored per hypothesis: all when there is no attention score to pre-select with.
  const int64_t pre_beam =
      use_att ? std::min<int64_t>(vocab, std::max<int64_t>(1, int64_t(opt.pre_beam_ratio * opt.beam))) : vocab;

  std::vector<Hyp> running(1), ended;
  running[0].yseq = {opt.sos_eos};
  if (use_ctc) running[0].ctc = ctc->initial();
  struct Cand {
    size_t hyp;
    int32_t token;
    double score;
    CtcPrefixScorer::State state;
  };
  for (int64_t i = 0; i < max_len && !running.empty(); ++i) {
    std::vector<float> att_lp;
    if (use_att) {
      std::vector<std::vector<int32_t>> prefixes;
      for (const Hyp& h : running) prefixes.push_back(h.yseq);
      att_lp = att(prefixes);
      check(att_lp.size() == running.size() * size_t(vocab), op, ": the attention scorer returned ", att_lp.size(),
            " values for ", running.size(), " prefixes x ", vocab, " tokens");
    }
    std::vector<Cand> cands;
    for (size_t k = 0; k < running.size(); ++k) {
      const Hyp& h = running[k];
      std::vector<int32_t> ids(static_cast<size_t>(vocab));
      std::iota(ids.begin(), ids.end(), 0);
      const float* a = use_att ? att_lp.data() + k * size_t(vocab) : nullptr;
      if (use_att)  // ESPnet pre-beam on the weighted full-scorer (decoder) scores; ties to the lower id
        std::partial_sort(ids.begin(), ids.begin() + pre_beam, ids.end(),
                          [&](int32_t x, int32_t y) { return a[x] != a[y] ? a[x] > a[y] : x < y; });
      for (int64_t j = 0; j < pre_beam; ++j) {
        const int32_t c = ids[size_t(j)];
        if (c == opt.blank && c != opt.sos_eos) continue;  // a separate blank id is never emitted
        Cand cd{k, c, h.score, {}};
        if (use_att) cd.score += (1 - opt.ctc_weight) * a[c];
        if (use_ctc) {
          const double psi = ctc->extend(h.ctc, c, c == opt.sos_eos ? nullptr : &cd.state);
          cd.score += opt.ctc_weight * (psi - h.ctc.psi);
        }
        if (cd.score == kNegInf) continue;
        cands.push_back(std::move(cd));
      }
    }
    // Keep the `beam` best (hypothesis, token) pairs; ties in a fixed order (hypothesis, then token).
    const size_t keep = std::min(cands.size(), size_t(opt.beam));
    std::partial_sort(cands.begin(), cands.begin() + ptrdiff_t(keep), cands.end(), [](const Cand& x, const Cand& y) {
      return x.score != y.score ? x.score > y.score : (x.hyp != y.hyp ? x.hyp < y.hyp : x.token < y.token);
    });
    std::vector<Hyp> next;
    for (size_t j = 0; j < keep; ++j) {
      Cand& cd = cands[j];
      Hyp h;
      h.yseq = running[cd.hyp].yseq;
      h.yseq.push_back(cd.token);
      h.score = cd.score;
      if (cd.token == opt.sos_eos) {
        ended.push_back(std::move(h));
      } else {
        h.ctc = std::move(cd.state);  // holds psi of the extended prefix (set by extend())
        next.push_back(std::move(h));
      }
    }
    running.swap(next);
    // ESPnet: at the last step the running hypotheses get <eos> appended with their score unchanged.
    if (i == max_len - 1)
      for (Hyp& h : running) h.yseq.push_back(opt.sos_eos), ended.push_back(std::move(h));
    if (opt.max_length <= 0 && end_detect(ended, i + 1)) break;
  }
  check(!ended.empty(), op, ": no hypothesis ended (every candidate had probability 0)");
  auto rank = [&](const Hyp& h) { return opt.length_normalize ? h.score / double(h.yseq.size()) : h.score; };
  const Hyp* best = &ended[0];
  for (const Hyp& h : ended)
    if (rank(h) > rank(*best)) best = &h;
  JointHypothesis out;
  out.tokens.assign(best->yseq.begin() + 1, best->yseq.end() - 1);
  out.score = best->score;
  return out;
}

std::vector<int32_t> greedy_attention_decode(const NextTokenScorer& att, int64_t vocab, int64_t max_length,
                                             int32_t sos_eos) {
  check(bool(att) && vocab >= 2 && max_length >= 1, "greedy_attention_decode: need a scorer, vocab >= 2 and ",
        "max_length >= 1, got vocab ", vocab, ", max_length ", max_length);
  std::vector<int32_t> y = {sos_eos};
  for (int64_t i = 0; i < max_length; ++i) {
    const std::vector<float> lp = att({y});
    check(int64_t(lp.size()) == vocab, "greedy_attention_decode: scorer returned ", lp.size(), " values for vocab ",
          vocab);
    const int32_t best = int32_t(std::max_element(lp.begin(), lp.end()) - lp.begin());  // first maximum wins
    if (best == sos_eos) break;
    y.push_back(best);
  }
  return {y.begin() + 1, y.end()};
}

}  // namespace hm
