// Training and evaluation of the recognisers of models/asr.h (SPEC.md 7):
//   * `hubmamba finetune --downstream conformer --pretrained CKPT --upstream-layers last|weighted`: a Conformer (or
//     ConBiMamba) downstream with a CTC head (and optionally an attention decoder) on a frozen pretrained upstream;
//   * `hubmamba asr --downstream conbimamba [--decoder-layers N]`: the ConBiMamba ASR from scratch on 80-d fbank.
// Loss: CTC (normalised by target tokens, as train/finetune.cpp) or, with a decoder, the hybrid
//   L = ctc_weight * L_ctc + (1 - ctc_weight) * L_att      (ESPnet mtlalpha = 0.3)
// where L_att is label-smoothed cross-entropy of the decoder over the target tokens + <eos>, normalised by their
// count. Front-end features are computed once per utterance and cached: the upstream is frozen and run in eval mode
// (no dropout, no masking), so its hidden states never change, and it records no gradients.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/asr.h"
#include "models/hubert.h"
#include "train/finetune.h"
#include "train/manifest.h"
#include "train/vocab.h"

namespace hm {

struct AsrTrainConfig {
  std::string pretrained;                // frozen upstream checkpoint; empty: 80-d fbank front end from scratch
  std::string upstream_layers = "last";  // last | weighted (softmax-weighted sum of every hidden state)
  std::string downstream = "conformer";  // encoder layer type: conformer | conbimamba (any models/ layer type)
  std::string data, train_split = "train", valid_split = "valid", out;
  int64_t layers = 2, d_model = 144, ffn_dim = 576, heads = 4, kernel = 15;
  int64_t subsample_channels = 32;       // fbank Conv2dSubsampling channels (0 = d_model as ESPnet)
  int64_t decoder_layers = 0;            // 0 = CTC only
  int64_t decoder_ffn = 576;
  double dropout = 0.1;
  double ctc_weight = 0.3;               // hybrid training weight (ESPnet mtlalpha)
  double label_smoothing = 0.1;
  int64_t max_updates = 1000, warmup_updates = 100;
  double lr = 1e-3, clip_norm = 5.0;
  int64_t max_tokens = 200000, min_sample_size = 4000;
  std::string decode = "auto";           // validation decoding: auto (joint with a decoder, else CTC) | ctc | attention | joint
  int64_t beam = 4;
  double decode_ctc_weight = 0.3;
  int64_t log_interval = 10, save_interval = 200;
  double max_minutes = 0;
  uint64_t seed = 1;
  bool resume = false, quiet = false;

  void validate() const;
  template <class F>
  static void visit(AsrTrainConfig& c, F&& f);
};

// Features of one utterance for a given front end: fbank (T, 80), or the frozen upstream's hidden states
// (last: its output; weighted: all of hidden[0..L-1] and its final output), each (T, d).
class AsrFrontend {
 public:
  AsrFrontend(const AsrModelConfig& mc, std::shared_ptr<HubertModel> upstream);
  std::vector<Tensor> features(const std::string& audio_path) const;  // cached by path
  std::shared_ptr<HubertModel> upstream;  // null for fbank

 private:
  AsrModelConfig cfg_;
  mutable std::map<std::string, std::vector<Tensor>> cache_;
};

// Pad per-utterance feature lists into batch inputs: level k -> (B, T_max, D); lengths receives each T.
std::vector<Tensor> pad_features(const std::vector<std::vector<Tensor>>& utts, std::vector<int64_t>& lengths);

struct AsrLoss {
  Tensor total, ctc, att;  // scalars; att undefined without a decoder
  double att_accuracy = 0;
};
// The training loss of one batch of token sequences (Vocab ids, no blanks).
AsrLoss asr_loss(const AsrModel& model, const AsrEncoded& enc, const std::vector<std::vector<int32_t>>& targets,
                 double ctc_weight, double label_smoothing);

struct AsrDecodeConfig {
  std::string mode = "auto";  // auto | ctc | attention | joint
  int64_t beam = 4;           // ctc: beam <= 1 is greedy; attention: greedy; joint: beam
  double ctc_weight = 0.3;
  bool length_normalize = true;
};
// Token ids of utterance b of an encoded batch.
std::vector<int32_t> asr_decode_one(const AsrModel& model, const AsrEncoded& enc, const Tensor& ctc_lp, int64_t b,
                                    const AsrDecodeConfig& dc);

// A trained checkpoint, ready to decode (eval mode).
struct LoadedAsr {
  std::unique_ptr<AsrModel> model;
  std::unique_ptr<AsrFrontend> frontend;
  Vocab vocab{std::vector<std::string>{Vocab::kWordSeparator}};
};
LoadedAsr load_asr_checkpoint(const std::string& path);

EvalResult evaluate_asr_model(const AsrModel& model, const AsrFrontend& fe, const Vocab& vocab, const std::string& data,
                              const std::string& split, const AsrDecodeConfig& dc, int64_t max_utterances = 0);
EvalResult evaluate_asr(const std::string& ckpt, const std::string& data, const std::string& split,
                        const AsrDecodeConfig& dc, int64_t max_utterances = 0);

FinetuneResult run_asr_training(const AsrTrainConfig& cfg);

template <class F>
void AsrTrainConfig::visit(AsrTrainConfig& c, F&& f) {
  f("pretrained", c.pretrained, "frozen upstream checkpoint (empty: 80-d fbank front end, trained from scratch)");
  f("upstream-layers", c.upstream_layers, "upstream features: last | weighted (learned softmax-weighted layer sum)");
  f("downstream", c.downstream, "encoder layer type: conformer | conbimamba");
  f("data", c.data, "directory with <split>.tsv and <split>.ltr");
  f("train-split", c.train_split, "training split");
  f("valid-split", c.valid_split, "validation split");
  f("out", c.out, "run directory");
  f("layers", c.layers, "encoder layers");
  f("d-model", c.d_model, "encoder width");
  f("ffn-dim", c.ffn_dim, "encoder feed-forward width");
  f("heads", c.heads, "attention heads (conformer self-attention and decoder)");
  f("kernel", c.kernel, "conformer depthwise conv kernel (odd)");
  f("subsample-channels", c.subsample_channels, "fbank Conv2dSubsampling channels (0 = d-model)");
  f("decoder-layers", c.decoder_layers, "Transformer attention decoder layers (0 = CTC only)");
  f("decoder-ffn", c.decoder_ffn, "decoder feed-forward width");
  f("dropout", c.dropout, "dropout");
  f("ctc-weight", c.ctc_weight, "hybrid loss weight of CTC (with a decoder)");
  f("label-smoothing", c.label_smoothing, "decoder label smoothing");
  f("max-updates", c.max_updates, "optimiser updates");
  f("warmup-updates", c.warmup_updates, "linear LR warm-up, then linear decay to 0");
  f("lr", c.lr, "peak learning rate");
  f("clip-norm", c.clip_norm, "global gradient-norm clip (0 = off)");
  f("max-tokens", c.max_tokens, "audio samples per batch (padded)");
  f("min-sample-size", c.min_sample_size, "skip utterances shorter than this many samples");
  f("decode", c.decode, "validation decoding: auto | ctc | attention | joint");
  f("beam", c.beam, "beam width for validation decoding");
  f("decode-ctc-weight", c.decode_ctc_weight, "CTC weight in joint decoding");
  f("log-interval", c.log_interval, "updates between progress lines");
  f("save-interval", c.save_interval, "updates between checkpoints");
  f("max-minutes", c.max_minutes, "wall-clock budget in minutes (0 = none)");
  f("seed", c.seed, "random seed");
  f("resume", c.resume, "continue the run in --out");
  f("quiet", c.quiet, "no progress lines");
}

}  // namespace hm
