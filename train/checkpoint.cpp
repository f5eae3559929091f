#include "train/checkpoint.h"

namespace hm {

namespace {
const std::string kOptPrefix = "optimizer.";
const std::string kStateKey = "hubmamba.training_state";
}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  NamedTensors all = ckpt.model;
  for (const auto& [n, t] : ckpt.optimizer) all.emplace_back(kOptPrefix + n, t);
  std::map<std::string, std::string> meta{{"format", "hubmamba"}};
  if (!ckpt.state.is_null()) meta[kStateKey] = ckpt.state.dump();
  save_safetensors(path, all, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsContents c = load_safetensors(path);
  Checkpoint out;
  for (auto& [n, t] : c.tensors) {
    if (n.rfind(kOptPrefix, 0) == 0) out.optimizer.emplace_back(n.substr(kOptPrefix.size()), t);
    else out.model.emplace_back(n, t);
  }
  if (auto it = c.metadata.find(kStateKey); it != c.metadata.end())
    out.state = Json::parse(it->second, path + " (training state)");
  return out;
}

std::string checkpoint_path(const std::string& run_dir, const std::string& tag) {
  return run_dir + "/checkpoint_" + tag + ".safetensors";
}

}  // namespace hm
