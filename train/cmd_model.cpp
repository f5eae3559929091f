// Model subcommands: `models` (presets + parameter counts), `init` (random weights -> safetensors), `forward`
// (per-layer hidden states of one file -> .npy, the MI analysis input) and `dump` (one layer's features for every
// utterance of a manifest -> .npy per utterance, the input of iteration-2 k-means).
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/npy.h"
#include "models/hubert.h"
#include "ops/ops.h"
#include "train/audio.h"
#include "train/checkpoint.h"
#include "train/cli.h"
#include "train/feature_store.h"
#include "train/manifest.h"
#include "train/model_io.h"

namespace hm::cli {
namespace {
namespace fs = std::filesystem;

int run_models(int argc, char** argv) {
  Args args("models", "List the model presets with their parameter counts.");
  args.flag("json", "print JSON instead of a table");
  if (!args.parse(argc, argv)) return 0;
  Json out = Json::object();
  for (const std::string& name : preset_names()) {
    NoGradGuard ng;
    const ModelConfig mc = preset(name);
    HubertModel m(mc, 0);
    out[name] = m.num_parameters();
    if (!args.on("json"))
      std::printf("%-20s %-12s layers %2lld  d %4lld  %8.2f M parameters\n", name.c_str(), mc.layer_type.c_str(),
                  (long long)mc.num_layers, (long long)mc.d_model, double(m.num_parameters()) / 1e6);
  }
  if (args.on("json")) std::cout << out.dump(2) << "\n";
  return 0;
}

int run_init(int argc, char** argv) {
  Args args("init", "Create a model with random weights (fairseq/mamba initialisers) and save it as safetensors.");
  args.required("config", "model preset or JSON config").option("seed", "1", "random seed").required("out", "output .safetensors");
  if (!args.parse(argc, argv)) return 0;
  NoGradGuard ng;
  const ModelConfig mc = ModelConfig::load(args.str("config"));
  HubertModel m(mc, uint64_t(args.integer("seed")));
  Checkpoint ck;
  ck.model = m.state_dict();
  ck.state = Json::object();
  ck.state["model_config"] = mc.to_json();
  save_checkpoint(args.str("out"), ck);
  std::cout << "init: " << mc.name << " (" << m.num_parameters() << " parameters) -> " << args.str("out") << "\n";
  return 0;
}

void write_hidden(const HubertOutput& out, const std::string& dir) {
  fs::create_directories(dir);
  save_npy(dir + "/cnn.npy", out.cnn.select(0, 0));
  for (size_t i = 0; i < out.hidden.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/layer_%02zu.npy", i);
    save_npy(dir + name, out.hidden[i].select(0, 0));
  }
  save_npy(dir + "/final.npy", out.final.select(0, 0));
}

int run_forward(int argc, char** argv) {
  Args args("forward",
            "Run the encoder in eval mode (no masking) on one audio file and write D/cnn.npy (T, C), D/layer_00.npy\n"
            "(the input of the first encoder layer), D/layer_NN.npy (output of layer NN) and D/final.npy, float32.");
  args.required("config", "model preset or JSON config (a checkpoint's own config wins)")
      .option("ckpt", "", "checkpoint or weights .safetensors (default: random init with --seed)")
      .option("seed", "1", "seed for random init")
      .required("wav", "input audio file (resampled to 16 kHz)")
      .required("out-dir", "output directory")
      .option("device", "cpu", "cpu or cuda");
  if (!args.parse(argc, argv)) return 0;
  NoGradGuard ng;
  auto model = load_model(args.str("config"), args.str("ckpt"), uint64_t(args.integer("seed")));
  model->to(device_from_name(args.str("device")));
  const Audio a = read_audio(args.str("wav"));
  check(model->frames_for(int64_t(a.samples.size())) > 0, args.str("wav"), ": ", a.samples.size(),
        " samples is shorter than the model's receptive field of ", model->cfg.cnn_receptive_field());
  const HubertOutput out =
      model->forward(from_vector(a.samples, {1, int64_t(a.samples.size())}).to(model->device()), {}, Tensor(), true);
  write_hidden(out, args.str("out-dir"));
  std::cout << "forward: " << out.hidden.size() << " hidden states of " << out.final.size(1) << " frames -> "
            << args.str("out-dir") << "\n";
  return 0;
}

int run_dump(int argc, char** argv) {
  Args args("dump",
            "Write one encoder layer's features for every utterance of a manifest: OUT/<relpath>.npy (T, d), the\n"
            "layout `hubmamba kmeans/label --feat-dir` read (HuBERT iteration 2 uses layer 6).");
  args.required("ckpt", "checkpoint .safetensors")
      .option("config", "", "model config (default: the checkpoint's own)")
      .option("layer", "6", "layer index (0 = input of the first layer)")
      .required("manifest", "fairseq .tsv")
      .required("out-dir", "output feature directory")
      .option("device", "cpu", "cpu or cuda");
  if (!args.parse(argc, argv)) return 0;
  NoGradGuard ng;
  const std::string config = args.str("config").empty() ? "tiny-transformer" : args.str("config");
  auto model = load_model(config, args.str("ckpt"), 1);
  model->to(device_from_name(args.str("device")));
  const int64_t layer = args.integer("layer");
  check(layer >= 0 && layer <= model->cfg.num_layers, "dump: --layer ", layer, " outside [0, ", model->cfg.num_layers, "]");
  const Manifest m = read_manifest(args.str("manifest"));
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const Audio a = read_audio(m.audio_path(i));
    const HubertOutput out = model->forward(
        from_vector(a.samples, {1, int64_t(a.samples.size())}).to(model->device()), {}, Tensor(), true);
    const std::string dst = feat::feature_path(args.str("out-dir"), m.entries[i].path);
    fs::create_directories(fs::path(dst).parent_path());
    save_npy(dst, out.hidden[size_t(layer)].select(0, 0));
    if ((i + 1) % 50 == 0 || i + 1 == m.entries.size())
      std::cerr << "dump: " << i + 1 << "/" << m.entries.size() << " utterances\r" << std::flush;
  }
  std::cerr << "\n";
  return 0;
}

const CommandRegistrar reg_models("models", "list model presets with parameter counts", run_models);
const CommandRegistrar reg_init("init", "create a randomly initialised model checkpoint", run_init);
const CommandRegistrar reg_forward("forward", "per-layer hidden states of one audio file (.npy)", run_forward);
const CommandRegistrar reg_dump("dump", "one layer's features for a whole manifest (iteration-2 k-means input)", run_dump);

}  // namespace
}  // namespace hm::cli
