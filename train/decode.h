// CTC decoding without a language model, from per-frame log-probabilities (T, V) (log_softmax of the CTC head):
//   * greedy (best path): argmax per frame, collapse repeats, drop blanks — what fairseq's CTC criterion reports
//     as its validation WER (fairseq/criterions/ctc.py: `lp.argmax(dim=-1).unique_consecutive()`, then
//     `toks[toks != self.blank_idx]`);
//   * prefix beam search (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous Speech Recognition using
//     Bi-Directional Recurrent DNNs", Algorithm 1, without the LM and length terms): keeps the `beam` most
//     probable label prefixes, each with the log-probability of its alignments ending in blank and in non-blank.
// The results are token ids; Vocab::decode turns them into words.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace hm {

struct CtcHypothesis {
  std::vector<int32_t> tokens;  // the label sequence (repeats collapsed, no blanks)
  // log P(tokens | x): the log of the summed probability of the alignments the search kept for this prefix.
  // Exact (the CTC forward probability) when the beam never pruned one of them; a lower bound otherwise.
  double log_prob = 0;
};

struct BeamSearchOptions {
  int beam = 16;      // prefixes kept after each frame
  int nbest = 1;      // hypotheses returned (at most `beam`)
  int32_t blank = 0;  // Vocab::kBlank
};

// log_probs points to `frames` rows of `vocab` floats (row-major (T, V)); only the first `length` frames are
// decoded (length <= frames: the valid, unpadded part). NaN in the decoded frames is an error naming the frame.
// Ties in the argmax go to the lowest id, as torch.argmax.
std::vector<int32_t> ctc_greedy_decode(const float* log_probs, int64_t frames, int64_t vocab, int64_t length,
                                       int32_t blank = 0);
// Returns up to opt.nbest hypotheses of non-zero probability, best first (ties in a fixed, deterministic order).
// With every frame's most probable symbol above 0.71 (as a trained model's output is), beam 1 gives the greedy
// result; in general it need not: it ranks prefixes by their summed alignments, not by the best single path.
std::vector<CtcHypothesis> ctc_prefix_beam_search(const float* log_probs, int64_t frames, int64_t vocab, int64_t length,
                                                  const BeamSearchOptions& opt = {});

// The same on a CPU float32 tensor (T, V) of any layout.
std::vector<int32_t> ctc_greedy_decode(const Tensor& log_probs, int64_t length, int32_t blank = 0);
std::vector<CtcHypothesis> ctc_prefix_beam_search(const Tensor& log_probs, int64_t length,
                                                  const BeamSearchOptions& opt = {});
// A padded batch (B, T, V) with one valid length per utterance: the greedy ids, and the ids of the best beam
// hypothesis (opt.nbest is not used).
std::vector<std::vector<int32_t>> ctc_greedy_decode_batch(const Tensor& log_probs, const std::vector<int64_t>& lengths,
                                                          int32_t blank = 0);
std::vector<std::vector<int32_t>> ctc_beam_decode_batch(const Tensor& log_probs, const std::vector<int64_t>& lengths,
                                                        const BeamSearchOptions& opt = {});

}  // namespace hm
