// Training checkpoints: one safetensors file holding the model weights (their own names, so the file doubles as
// a weights file), the optimiser moments (prefixed "optimizer.") and the training state as JSON metadata
// (step, RNG streams, data-loader position, schedule, best metric). One file per checkpoint keeps weights and
// state consistent; writes are atomic (temp + fsync + rename), so a run killed mid-write leaves the previous
// checkpoint intact (DESIGN.md 5).
#pragma once
#include <string>

#include "engine/json.h"
#include "engine/safetensors.h"

namespace hm {

struct Checkpoint {
  NamedTensors model;      // parameters + buffers
  NamedTensors optimizer;  // names without the "optimizer." prefix
  Json state;              // free-form training state
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Loads any hubmamba checkpoint or plain weights file (then optimizer is empty and state is null).
Checkpoint load_checkpoint(const std::string& path);

// Run-directory conventions: RUN/checkpoint_last.safetensors, RUN/checkpoint_best.safetensors,
// RUN/checkpoint_<step>.safetensors.
std::string checkpoint_path(const std::string& run_dir, const std::string& tag);

}  // namespace hm
