#include "train/model_io.h"

#include "train/checkpoint.h"

namespace hm {

std::unique_ptr<HubertModel> load_model(const std::string& config, const std::string& ckpt_path, uint64_t seed) {
  check(!config.empty() || !ckpt_path.empty(), "load_model: need a model config or a checkpoint");
  Checkpoint ck;
  bool have_config = false;
  ModelConfig mc;
  if (!ckpt_path.empty()) {
    ck = load_checkpoint(ckpt_path);
    if (!ck.state.is_null() && ck.state.contains("model_config")) {
      mc = ModelConfig::from_json(ck.state.at("model_config"), ckpt_path + " model_config");
      have_config = true;
    }
  }
  if (!have_config) {
    check(!config.empty(), ckpt_path, ": has no model_config; pass the model config (preset or JSON)");
    mc = ModelConfig::load(config);
  }
  for (const auto& [n, t] : ck.model)
    if (n == "logit_generator.label_embeddings") mc.num_classes = t.size(0);
  auto model = std::make_unique<HubertModel>(mc, seed);
  if (!ckpt_path.empty()) model->load_state_dict(ck.model);
  model->eval();
  return model;
}

}  // namespace hm
