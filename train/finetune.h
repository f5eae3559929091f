// CTC fine-tuning of a pretrained HuBERT-family encoder (SPEC.md 7; fairseq base_10h): letters + '|' + blank,
// a linear CTC head on the encoder output, the CNN frozen, the encoder frozen for the first updates, tri-stage LR,
// time and channel masking, padding masks through the encoder; plus model-driven evaluation (greedy or beam CTC
// decoding -> WER/CER).
#pragma once
#include <string>
#include <vector>

#include "engine/json.h"
#include "train/cli.h"
#include "train/metrics.h"

namespace hm {

struct FinetuneConfig {
  std::string pretrained;               // checkpoint of a pretraining run ("" = train the model from scratch)
  std::string model = "tiny-transformer";  // used when there is no pretrained checkpoint
  std::string data;                     // directory with <split>.tsv and <split>.ltr
  std::string train_split = "train", valid_split = "valid";
  std::string out;
  int64_t max_updates = 1000;
  int64_t freeze_updates = 200;         // encoder frozen (only the head trains) for these updates
  double lr = 5e-4;
  double warmup_fraction = 0.1, hold_fraction = 0.4, decay_fraction = 0.5;  // fairseq tri-stage phase ratios
  double final_lr_scale = 0.05;
  double clip_norm = 10.0;
  int64_t max_tokens = 400000;
  int64_t min_sample_size = 4000;
  double mask_prob = 0.3;               // time masking (fairseq base_10h uses 0.65 on 10 h of real speech)
  int64_t mask_length = 10;
  double mask_channel_prob = 0.1;
  int64_t mask_channel_length = 16;
  int64_t log_interval = 10;
  int64_t save_interval = 200;
  int64_t eval_interval = 0;            // updates between validation WER checks (0 = at the end only)
  double max_minutes = 0;
  uint64_t seed = 1;
  std::string device = "cpu";  // cpu or cuda
  bool resume = false;
  bool quiet = false;

  void validate() const;
  template <class F>
  static void visit(FinetuneConfig& c, F&& f);
};

struct EvalResult {
  CorpusScore score;
  std::vector<std::string> hyps, refs;
  double wer() const { return score.words.rate(); }
  double cer() const { return score.letters.rate(); }
};

struct FinetuneResult {
  int64_t steps = 0;
  double final_loss = 0;
  double seconds = 0;
  EvalResult valid;
  std::string last_checkpoint;
};

FinetuneResult run_finetuning(const FinetuneConfig& cfg);

// Decode a manifest split with a fine-tuned checkpoint (beam <= 1: greedy).
EvalResult evaluate_ctc(const std::string& ckpt, const std::string& data_dir, const std::string& split, int64_t beam,
                        int64_t max_utterances = 0);

template <class F>
void FinetuneConfig::visit(FinetuneConfig& c, F&& f) {
  f("pretrained", c.pretrained, "pretraining checkpoint to start from (empty: from scratch with --model)");
  f("model", c.model, "model preset or JSON config when there is no pretrained checkpoint");
  f("data", c.data, "directory with <split>.tsv and <split>.ltr");
  f("train-split", c.train_split, "training split");
  f("valid-split", c.valid_split, "validation split for WER");
  f("out", c.out, "run directory");
  f("max-updates", c.max_updates, "optimiser updates");
  f("freeze-updates", c.freeze_updates, "updates with the encoder frozen (only the CTC head trains)");
  f("lr", c.lr, "peak learning rate");
  f("warmup-fraction", c.warmup_fraction, "tri-stage warm-up share of max-updates");
  f("hold-fraction", c.hold_fraction, "tri-stage hold share");
  f("decay-fraction", c.decay_fraction, "tri-stage decay share");
  f("final-lr-scale", c.final_lr_scale, "final LR as a fraction of the peak");
  f("clip-norm", c.clip_norm, "global gradient-norm clip (0 = off)");
  f("max-tokens", c.max_tokens, "audio samples per batch (padded)");
  f("min-sample-size", c.min_sample_size, "skip utterances shorter than this many samples");
  f("mask-prob", c.mask_prob, "time-mask probability");
  f("mask-length", c.mask_length, "time-mask span in frames");
  f("mask-channel-prob", c.mask_channel_prob, "channel-mask probability");
  f("mask-channel-length", c.mask_channel_length, "channel-mask span");
  f("log-interval", c.log_interval, "updates between progress lines");
  f("save-interval", c.save_interval, "updates between checkpoints");
  f("eval-interval", c.eval_interval, "updates between validation WER checks (0 = end only)");
  f("max-minutes", c.max_minutes, "wall-clock budget in minutes (0 = none)");
  f("seed", c.seed, "random seed");
  f("device", c.device, "cpu or cuda (one GPU; CUDA_VISIBLE_DEVICES picks it)");
  f("resume", c.resume, "continue the run in --out");
  f("quiet", c.quiet, "no progress lines");
}

}  // namespace hm
