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
  bool resume = false;
  bool quiet = false;

  Json to_json() const;
  static PretrainConfig from_json(const Json& j, const std::string& source);
  void validate() const;  // errors name the field
};

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
