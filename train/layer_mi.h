// Per-layer mutual information I(X; T_i) (SPEC.md 8) for any trained recogniser, not only a pretraining checkpoint
// (train/mi_analysis.h): a CTC fine-tuned HuBERT encoder (train/finetune.cpp), a downstream on a frozen upstream,
// or a from-scratch ASR model (train/asr_train.h). X is the representation entering the first encoder layer and
// T_i the output of layer i; for a downstream model the layers are the upstream's followed by the downstream's, with
// X the upstream's input of layer 1 (so the curve shows what the downstream adds on top of the upstream).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "train/mi_analysis.h"

namespace hm {

// (T, d_i) frames per level for one audio file: [0] = X, [i] = T_i (widths may differ between levels).
using HiddenStates = std::function<std::vector<Tensor>(const std::string& audio_path)>;

// Hidden states of the checkpoint at `ckpt`, whatever kind it is (hubmamba pretrain / finetune / asr /
// finetune --downstream); errors name the file.
HiddenStates hidden_states_of_checkpoint(const std::string& ckpt);

struct LayerMiOptions {
  std::string manifest;
  int64_t utterances = 16;
  uint64_t seed = 1;
  MineConfig mine;
  double shape_tol = 0.02;
  int workers = 0;  // MINE calls at once (0: cpu::num_threads())
  bool progress = false;
};

// MINE on every (utterance, layer) of N random utterances; fresh statistics network per call (seeded from (seed,
// utterance, layer)), the curve summarised and classified by train/mi_analysis.h.
MiCurve layer_mi_curve(const HiddenStates& hidden, const std::string& label, const LayerMiOptions& opt);

}  // namespace hm
