#include "train/decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "engine/autograd.h"
#include "engine/error.h"

namespace hm {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b)) without overflow; -inf is the log of probability 0.
double log_add(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

void check_args(const char* op, const float* log_probs, int64_t frames, int64_t vocab, int64_t length, int32_t blank) {
  check(log_probs != nullptr || frames * vocab == 0, op, ": log_probs is null");
  check(frames >= 0 && vocab >= 1, op, ": log_probs must be (T, V) with T >= 0, V >= 1, got (", frames, ", ", vocab,
        ")");
  check(length >= 0 && length <= frames, op, ": valid length ", length, " outside [0, T = ", frames, "]");
  check(blank >= 0 && blank < vocab, op, ": blank id ", blank, " outside [0, V = ", vocab, ")");
}

// Frame t must hold log-probabilities: NaN or +inf would make every comparison below meaningless.
void check_frame(const char* op, const float* row, int64_t vocab, int64_t t) {
  for (int64_t v = 0; v < vocab; ++v)
    check(!std::isnan(row[v]) && row[v] != std::numeric_limits<float>::infinity(), op, ": log_probs[", t, ", ", v,
          "] is ", row[v], " (expected a log-probability)");
}

// (T, V) float32 CPU tensor -> contiguous rows, without recording anything on the autograd tape.
Tensor rows_of(const char* op, const Tensor& log_probs, int64_t rank) {
  check(log_probs.dim() == rank, op, ": log_probs must have ", rank, " dims (", rank == 2 ? "T, V" : "B, T, V",
        "), got ", shape_str(log_probs.shape()));
  check(log_probs.dtype() == DType::f32, op, ": log_probs must be float32, got ", log_probs.dtype());
  check(log_probs.device() == Device::cpu(), op, ": log_probs must be on the CPU, got ", log_probs.device());
  NoGradGuard ng;
  return log_probs.detach().contiguous();
}

}  // namespace

std::vector<int32_t> ctc_greedy_decode(const float* log_probs, int64_t frames, int64_t vocab, int64_t length,
                                       int32_t blank) {
  const char* op = "ctc_greedy_decode";
  check_args(op, log_probs, frames, vocab, length, blank);
  std::vector<int32_t> out;
  int32_t prev = -1;  // the previous frame's argmax: repeats collapse only when no blank separates them
  for (int64_t t = 0; t < length; ++t) {
    const float* row = log_probs + t * vocab;  // (V,)
    check_frame(op, row, vocab, t);
    // torch.argmax: the first maximal value wins ties.
    const int32_t best = int32_t(std::max_element(row, row + vocab) - row);
    // fairseq: argmax(dim=-1).unique_consecutive(), then drop the blanks.
    if (best != prev && best != blank) out.push_back(best);
    prev = best;
  }
  return out;
}

std::vector<CtcHypothesis> ctc_prefix_beam_search(const float* log_probs, int64_t frames, int64_t vocab, int64_t length,
                                                  const BeamSearchOptions& opt) {
  const char* op = "ctc_prefix_beam_search";
  check_args(op, log_probs, frames, vocab, length, opt.blank);
  check(opt.beam >= 1 && opt.nbest >= 1, op, ": beam (", opt.beam, ") and nbest (", opt.nbest, ") must be >= 1");

  // Prefixes live in a trie, so that two ways of reaching the same label sequence meet in one entry (the merge
  // step of the algorithm) without comparing sequences. Node 0 is the empty prefix. Only prefixes that survive
  // a pruning become nodes; a candidate extension is keyed by (parent node, label) until then, so the trie
  // grows by at most `beam` nodes per frame.
  struct Node {
    int32_t parent, token;  // token = the prefix's last label; -1 for the root
  };
  std::vector<Node> trie{{-1, -1}};
  std::unordered_map<uint64_t, int32_t> children;  // extension key -> node
  auto extension_key = [](int32_t parent, int32_t token) {
    return (uint64_t(1) << 63) | (uint64_t(uint32_t(parent)) << 32) | uint32_t(token);
  };

  // A beam entry: the prefix (a node, or parent + label while it is a candidate), and log P(prefix, alignment so
  // far ends in blank / in its last label). `seq` orders entries created in the same frame.
  struct Entry {
    int32_t node, parent, token;
    size_t seq;
    double blank, nonblank;
    double total() const { return log_add(blank, nonblank); }
  };
  std::vector<Entry> beam{{0, -1, -1, 0, 0.0, kNegInf}};  // before any frame: the empty prefix, probability 1
  std::vector<Entry> next;
  std::unordered_map<uint64_t, size_t> slot;  // node id or extension key -> index in `next`
  // The entry of an existing node / of the extension of `parent` by `token` in `next`, created empty. Both
  // may reallocate `next`: use each returned reference for one update only.
  auto entry = [&](uint64_t key, int32_t node, int32_t parent, int32_t token) -> Entry& {
    const auto [it, inserted] = slot.try_emplace(key, next.size());
    if (inserted) next.push_back({node, parent, token, next.size(), kNegInf, kNegInf});
    return next[it->second];
  };
  auto at = [&](int32_t node) -> Entry& { return entry(uint64_t(node), node, -1, -1); };
  auto extended = [&](int32_t parent, int32_t token) -> Entry& {
    const auto it = children.find(extension_key(parent, token));
    return it != children.end() ? at(it->second) : entry(extension_key(parent, token), -1, parent, token);
  };
  // Rank by total probability; equal totals keep creation order, so the result is deterministic.
  auto better = [](const Entry& a, const Entry& b) {
    const double ta = a.total(), tb = b.total();
    return ta != tb ? ta > tb : a.seq < b.seq;
  };

  for (int64_t t = 0; t < length; ++t) {
    const float* row = log_probs + t * vocab;  // (V,)
    check_frame(op, row, vocab, t);
    next.clear();
    slot.clear();
    for (const Entry& e : beam) {
      const double total = e.total();
      const int32_t last = trie[size_t(e.node)].token;
      // Hannun et al. Alg. 1: p_b(l; t) += (p_b(l; t-1) + p_nb(l; t-1)) * y(blank, t)
      Entry& stay = at(e.node);
      stay.blank = log_add(stay.blank, total + row[opt.blank]);
      for (int32_t c = 0; c < int32_t(vocab); ++c) {
        if (c == opt.blank) continue;
        const double y = row[c];
        if (c == last) {
          // p_nb(l; t) += p_nb(l; t-1) * y(c, t): the repeat collapses into the same label ...
          Entry& same = at(e.node);
          same.nonblank = log_add(same.nonblank, e.nonblank + y);
          // ... p_nb(l + c; t) += p_b(l; t-1) * y(c, t): only a blank in between makes it a new label.
          Entry& ext = extended(e.node, c);
          ext.nonblank = log_add(ext.nonblank, e.blank + y);
        } else {
          // p_nb(l + c; t) += (p_b(l; t-1) + p_nb(l; t-1)) * y(c, t)
          Entry& ext = extended(e.node, c);
          ext.nonblank = log_add(ext.nonblank, total + y);
        }
      }
    }
    size_t keep = std::min(next.size(), size_t(opt.beam));
    std::partial_sort(next.begin(), next.begin() + ptrdiff_t(keep), next.end(), better);
    // Prefixes of probability 0 (a repeat reached only through p_b = 0) would only take up room in the beam;
    // the best entry stays even then, so that frames of all -inf still give an answer.
    while (keep > 1 && next[keep - 1].total() == kNegInf) --keep;
    next.resize(keep);
    for (Entry& e : next) {
      if (e.node >= 0) continue;
      e.node = int32_t(trie.size());
      trie.push_back({e.parent, e.token});
      children.emplace(extension_key(e.parent, e.token), e.node);
    }
    beam.swap(next);
  }

  std::sort(beam.begin(), beam.end(), better);
  std::vector<CtcHypothesis> out;
  for (size_t i = 0; i < beam.size() && i < size_t(opt.nbest); ++i) {
    CtcHypothesis h;
    for (int32_t n = beam[i].node; n > 0; n = trie[size_t(n)].parent) h.tokens.push_back(trie[size_t(n)].token);
    std::reverse(h.tokens.begin(), h.tokens.end());
    h.log_prob = beam[i].total();
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<int32_t> ctc_greedy_decode(const Tensor& log_probs, int64_t length, int32_t blank) {
  const Tensor x = rows_of("ctc_greedy_decode", log_probs, 2);  // (T, V)
  return ctc_greedy_decode(x.data<float>(), x.shape()[0], x.shape()[1], length, blank);
}

std::vector<CtcHypothesis> ctc_prefix_beam_search(const Tensor& log_probs, int64_t length,
                                                  const BeamSearchOptions& opt) {
  const Tensor x = rows_of("ctc_prefix_beam_search", log_probs, 2);  // (T, V)
  return ctc_prefix_beam_search(x.data<float>(), x.shape()[0], x.shape()[1], length, opt);
}

namespace {

// Calls decode(rows of utterance b (T, V), T, V, lengths[b]) for every b of a (B, T, V) batch.
template <class Decode>
std::vector<std::vector<int32_t>> decode_batch(const char* op, const Tensor& log_probs,
                                               const std::vector<int64_t>& lengths, Decode decode) {
  const Tensor x = rows_of(op, log_probs, 3);  // (B, T, V)
  const int64_t B = x.shape()[0], T = x.shape()[1], V = x.shape()[2];
  check(int64_t(lengths.size()) == B, op, ": ", lengths.size(), " lengths for a batch of ", B, " (log_probs ",
        shape_str(x.shape()), ")");
  std::vector<std::vector<int32_t>> out;
  out.reserve(size_t(B));
  for (int64_t b = 0; b < B; ++b) out.push_back(decode(x.data<float>() + b * T * V, T, V, lengths[size_t(b)]));
  return out;
}

}  // namespace

std::vector<std::vector<int32_t>> ctc_greedy_decode_batch(const Tensor& log_probs, const std::vector<int64_t>& lengths,
                                                          int32_t blank) {
  return decode_batch(
      "ctc_greedy_decode_batch", log_probs, lengths,
      [&](const float* p, int64_t T, int64_t V, int64_t len) { return ctc_greedy_decode(p, T, V, len, blank); });
}

std::vector<std::vector<int32_t>> ctc_beam_decode_batch(const Tensor& log_probs, const std::vector<int64_t>& lengths,
                                                        const BeamSearchOptions& opt) {
  return decode_batch("ctc_beam_decode_batch", log_probs, lengths,
                      [&](const float* p, int64_t T, int64_t V, int64_t len) {
                        return ctc_prefix_beam_search(p, T, V, len, opt).front().tokens;
                      });
}

}  // namespace hm
