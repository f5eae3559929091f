// Decoding for hybrid CTC/attention recognisers (models/asr.h), as ESPnet's BeamSearch with a decoder scorer and a
// CTCPrefixScorer (Watanabe et al. 2017, "Hybrid CTC/Attention Architecture for End-to-End Speech Recognition"):
//   score(h) = (1 - lambda) * log p_att(h | x) + lambda * log p_ctc(h... | x)
// where the CTC term is the prefix probability (all alignments whose labels start with h), updated incrementally
// per hypothesis with the forward variables r^n_t(h), r^b_t(h) (ESPnet CTCPrefixScore). The search keeps `beam`
// running hypotheses of equal length, scores the `pre_beam` = int(1.5 * beam) best attention candidates of each
// with CTC (all candidates when lambda = 1), moves those that emit <eos> to the ended list, stops at max_length or
// when ESPnet's end_detect fires, and returns the ended hypothesis with the best score, divided by its length
// (yseq incl. <sos>/<eos>) when length_normalize is set.
//
// Ids: <sos> = <eos> = the CTC blank (0) (models/asr.h explains why one id can serve all three).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace hm {

// Log-probabilities of the next token for a batch of prefixes (each starting with <sos>, all the same length):
// returns prefixes.size() rows of `vocab` floats, row-major.
using NextTokenScorer = std::function<std::vector<float>(const std::vector<std::vector<int32_t>>& prefixes)>;

struct JointDecodeOptions {
  int beam = 4;
  double ctc_weight = 0.3;      // lambda: 0 = attention only, 1 = CTC only (no scorer needed)
  bool length_normalize = true;  // rank ended hypotheses by score / len(yseq)
  int64_t max_length = 0;       // output tokens; 0 = the number of encoder frames (ESPnet maxlenratio = 0)
  int32_t sos_eos = 0;
  int32_t blank = 0;
  double pre_beam_ratio = 1.5;  // ESPnet pre_beam = int(1.5 * beam) candidates per hypothesis
};

struct JointHypothesis {
  std::vector<int32_t> tokens;  // without <sos>/<eos>
  double score = 0;             // accumulated weighted log score (not length normalised)
};

// ctc_log_probs: (frames, vocab) row-major log-softmax of the CTC head for one utterance (may be null when
// ctc_weight == 0). att may be empty when ctc_weight == 1. Errors name the bad option or shape.
JointHypothesis joint_beam_search(const float* ctc_log_probs, int64_t frames, int64_t vocab, const NextTokenScorer& att,
                                  const JointDecodeOptions& opt);

// Greedy attention decoding: argmax of the decoder until <eos> or max_length tokens.
std::vector<int32_t> greedy_attention_decode(const NextTokenScorer& att, int64_t vocab, int64_t max_length,
                                             int32_t sos_eos = 0);

// ESPnet CTCPrefixScore for one utterance: the log prefix probability psi(g + c) of extending prefix g by c
// (c == eos: the probability of exactly g), incrementally from g's forward variables.
class CtcPrefixScorer {
 public:
  CtcPrefixScorer(const float* log_probs, int64_t frames, int64_t vocab, int32_t blank, int32_t eos);
  struct State {
    std::vector<double> r_n, r_b;  // (T,) log r^n_t(g), r^b_t(g)
    double psi = 0;                 // log prefix probability of g
    int32_t last = -1;              // last label of g (-1 for the empty prefix)
    bool empty = true;
  };
  State initial() const;  // the empty prefix (<sos>)
  // psi(g + c) and, unless c is eos, the new state in `out`.
  double extend(const State& g, int32_t c, State* out) const;

 private:
  const float* lp_;
  int64_t T_, V_;
  int32_t blank_, eos_;
};

}  // namespace hm
