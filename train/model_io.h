// Loading a HuBERT-family model for inference (`hubmamba forward`, `dump`, `mi`): the configuration from a
// preset or JSON file — or the checkpoint's own `model_config`, which wins — and the weights from a checkpoint
// or weights .safetensors. The model comes back in eval mode.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "models/hubert.h"

namespace hm {

// `config` may be empty when `ckpt_path` names a checkpoint that carries its model_config. With an empty
// `ckpt_path` the weights are a random initialisation from `seed`. num_classes follows the checkpoint's label
// embeddings so iteration-1 and -2 checkpoints both load.
std::unique_ptr<HubertModel> load_model(const std::string& config, const std::string& ckpt_path, uint64_t seed);

}  // namespace hm
