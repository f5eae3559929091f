// HuBERT masked-prediction pretraining (SPEC.md 6; fairseq hubert_base_librispeech + HubertCriterion):
// span masking, cosine logits / 0.1 over masked frames, cross-entropy + 10 * features_pen * n_masked, normalised
// by n_masked; Adam(0.9, 0.98, 1e-6) with decoupled weight decay, polynomial decay with linear warm-up, global
// norm clipping, gradient accumulation, a non-finite-gradient guard, atomic checkpoints and exact resume.
#pragma once
#include <functional>
#include <string>

#include "engine/json.h"
#include "train/cli.h"

namespace hm {

struct PretrainConfig {
  std::string model = "tiny-transformer";  // preset name or JSON model config file
  std::string data;                        // directory with <split>.tsv
  std::string labels;                      // directory with <split>.km
  std::string split = "train";
  std::string out;                         // run directory
  int64_t num_classes = 0;                 // 0: max label + 1 from the .km file
  double label_rate = 100.0;
  int64_t max_updates = 1000;
  int64_t warmup_updates = 100;
  double lr = 5e-4;
  double end_lr = 0.0;
  double weight_decay = 0.01;
  double clip_norm = 10.0;
  int64_t update_freq = 1;
  int64_t max_tokens = 400000;
  int64_t min_sample_size = 16000;
  int64_t max_sample_size = 250000;
  int64_t max_utterances = 0;
  double mask_prob = 0.8;
  int64_t mask_length = 10;
  double pred_masked_weight = 1.0;
  double pred_nomask_weight = 0.0;
  double feature_pen_weight = 10.0;
  int64_t log_interval = 10;
  int64_t save_interval = 200;
  double max_minutes = 0;                  // wall-clock budget; stops cleanly (with a checkpoint) when reached
  uint64_t seed = 1;
  std::string device = "cpu";              // cpu or cuda
  bool resume = false;
  bool quiet = false;

  Json to_json() const;
  static PretrainConfig from_json(const Json& j, const std::string& source);
  void validate() const;  // errors name the field
  template <class F>
  static void visit(PretrainConfig& c, F&& f);  // every field: f(name, field, help), see train/options.h
};

template <class F>
void PretrainConfig::visit(PretrainConfig& c, F&& f) {
  f("model", c.model, "model preset (see `hubmamba models`) or JSON model config");
  f("data", c.data, "directory with <split>.tsv (fairseq manifest)");
  f("labels", c.labels, "directory with <split>.km frame labels");
  f("split", c.split, "manifest/label split name");
  f("out", c.out, "run directory (checkpoints, metrics.jsonl, curves.png)");
  f("num-classes", c.num_classes, "label classes (0: max label + 1)");
  f("label-rate", c.label_rate, "label frame rate in Hz (100: MFCC labels, 50: hidden-unit labels)");
  f("max-updates", c.max_updates, "optimiser updates");
  f("warmup-updates", c.warmup_updates, "linear warm-up updates");
  f("lr", c.lr, "peak learning rate");
  f("end-lr", c.end_lr, "learning rate at max-updates (polynomial decay, power 1)");
  f("weight-decay", c.weight_decay, "decoupled weight decay (not on biases, norms, A_log, D)");
  f("clip-norm", c.clip_norm, "global gradient-norm clip (0 = off)");
  f("update-freq", c.update_freq, "batches accumulated per update");
  f("max-tokens", c.max_tokens, "audio samples per batch");
  f("min-sample-size", c.min_sample_size, "skip utterances shorter than this many samples");
  f("max-sample-size", c.max_sample_size, "crop batches to at most this many samples");
  f("max-utterances", c.max_utterances, "use only the first N utterances (0 = all)");
  f("mask-prob", c.mask_prob, "span-mask probability");
  f("mask-length", c.mask_length, "span length in frames");
  f("pred-masked-weight", c.pred_masked_weight, "loss weight of masked frames");
  f("pred-nomask-weight", c.pred_nomask_weight, "loss weight of unmasked frames");
  f("feature-pen-weight", c.feature_pen_weight, "weight of the CNN feature penalty");
  f("log-interval", c.log_interval, "updates between progress lines");
  f("save-interval", c.save_interval, "updates between checkpoints");
  f("max-minutes", c.max_minutes, "wall-clock budget in minutes (0 = none); stops with a checkpoint");
  f("seed", c.seed, "random seed (weights, data order, masks, dropout)");
  f("device", c.device, "cpu or cuda (one GPU; CUDA_VISIBLE_DEVICES picks it)");
  f("resume", c.resume, "continue the run in --out from checkpoint_last");
  f("quiet", c.quiet, "no progress lines");
}

// Declare every PretrainConfig field as a CLI option (so --help documents them) plus --config FILE.
void add_pretrain_options(cli::Args& args);
// Defaults <- --config JSON <- explicit flags.
PretrainConfig pretrain_config_from_args(const cli::Args& args);

struct PretrainResult {
  int64_t steps = 0;
  double final_loss = 0, masked_acc = 0, unmasked_acc = 0;
  double seconds = 0, audio_seconds = 0;
  int64_t skipped_updates = 0;
  std::string last_checkpoint;
};

PretrainResult run_pretraining(const PretrainConfig& cfg);

}  // namespace hm
