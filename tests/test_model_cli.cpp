// The model subcommands (train/cmd_model.cpp), called through the command registry as `hubmamba` would run
// them: `init` (random weights + model config), `forward` (per-layer hidden states of one file as .npy) and
// `dump` (one layer for every utterance of a manifest, the iteration-2 k-means input). Outputs are checked
// against a HubertModel run directly.
#include <cstring>
#include <filesystem>

#include "engine/npy.h"
#include "engine/safetensors.h"
#include "models/hubert.h"
#include "tests/test_util.h"
#include "tests/train_corpus.h"
#include "train/checkpoint.h"
#include "train/feature_store.h"
#include "train/manifest.h"

namespace hm::test {
namespace {

namespace fs = std::filesystem;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) ==
             0;
}

// The eval-mode forward pass the commands run, done here directly.
HubertOutput reference_forward(const ModelConfig& mc, const NamedTensors& weights, const std::vector<float>& wave) {
  NoGradGuard ng;
  HubertModel m(mc, 1);
  m.load_state_dict(weights);
  m.eval();
  return m.forward(from_vector(wave, {1, int64_t(wave.size())}), {}, Tensor(), true);
}

TEST(ModelCli, InitWritesSeededWeightsAndTheModelConfig) {
  ThreadScope single(1);
  ScratchDir dir("model_cli");
  const std::string cfg = write_micro_model(dir.str());
  const std::string a = dir.str("a.safetensors"), b = dir.str("b.safetensors"), c = dir.str("c.safetensors");
  ASSERT_EQ(run_command({"init", "--config", cfg, "--seed", "3", "--out", a}), 0);
  ASSERT_EQ(run_command({"init", "--config", cfg, "--seed", "3", "--out", b}), 0);
  ASSERT_EQ(run_command({"init", "--config", cfg, "--seed", "4", "--out", c}), 0);
  const Checkpoint ca = load_checkpoint(a), cb = load_checkpoint(b), cc = load_checkpoint(c);
  const ModelConfig mc = ModelConfig::load(cfg);
  EXPECT_EQ(ca.state.at("model_config").dump(), mc.to_json().dump());
  EXPECT_TRUE(ca.optimizer.empty());
  NoGradGuard ng;
  const NamedTensors expect = HubertModel(mc, 3).state_dict();
  ASSERT_EQ(ca.model.size(), expect.size());
  bool any_differs = false;
  for (size_t i = 0; i < expect.size(); ++i) {
    EXPECT_EQ(ca.model[i].first, expect[i].first);
    EXPECT_TRUE(same_bits(ca.model[i].second, expect[i].second)) << expect[i].first;
    EXPECT_TRUE(same_bits(ca.model[i].second, cb.model[i].second)) << expect[i].first << ": same seed, same weights";
    any_differs = any_differs || !same_bits(ca.model[i].second, cc.model[i].second);
  }
  EXPECT_TRUE(any_differs) << "another seed gives other weights";
  EXPECT_TRUE(throws_with([&] { run_command({"init", "--config", cfg, "--out"}); }, "--out needs a value"));
  EXPECT_TRUE(throws_with([&] { run_command({"init", "--config", dir.str("none.json"), "--out", a}); }, "none.json"));
}

TEST(ModelCli, ForwardWritesEveryHiddenStateWithTheRightShapes) {
  ThreadScope single(1);
  ScratchDir dir("model_cli");
  const std::string cfg = write_micro_model(dir.str());
  const ModelConfig mc = ModelConfig::load(cfg);
  const std::string ckpt = dir.str("init.safetensors");
  ASSERT_EQ(run_command({"init", "--config", cfg, "--seed", "5", "--out", ckpt}), 0);
  Generator gen(2);
  const std::vector<float> wave = tone_utterance(11200, gen).samples;  // 0.7 s
  const std::string wav = dir.str("x.wav");
  write_wav(wav, wave, kSampleRate);
  const std::vector<float> back = read_back(wav);

  const std::string out = dir.str("hidden");
  ASSERT_EQ(run_command({"forward", "--config", cfg, "--ckpt", ckpt, "--wav", wav, "--out-dir", out}), 0);
  const int64_t T = mc.cnn_output_length(11200);
  ASSERT_EQ(T, 34);
  const Tensor cnn = load_npy(out + "/cnn.npy");
  EXPECT_EQ(cnn.shape(), Shape({T, 16}));
  EXPECT_EQ(cnn.dtype(), DType::f32);
  for (int64_t l = 0; l <= mc.num_layers; ++l) {
    const std::string p = out + "/layer_0" + std::to_string(l) + ".npy";
    ASSERT_TRUE(fs::exists(p)) << p;
    EXPECT_EQ(load_npy(p).shape(), Shape({T, 32})) << p;
  }
  EXPECT_FALSE(fs::exists(out + "/layer_0" + std::to_string(mc.num_layers + 1) + ".npy"));
  EXPECT_EQ(load_npy(out + "/final.npy").shape(), Shape({T, 32}));

  // The values are the eval-mode forward of the checkpoint's model.
  const HubertOutput ref = reference_forward(mc, load_checkpoint(ckpt).model, back);
  EXPECT_TRUE(all_close(cnn, ref.cnn.select(0, 0), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(load_npy(out + "/layer_00.npy"), ref.hidden[0].select(0, 0), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(load_npy(out + "/layer_02.npy"), ref.hidden[2].select(0, 0), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(load_npy(out + "/final.npy"), ref.final.select(0, 0), 1e-6, 1e-5));

  // Without --ckpt the model is initialised from --seed, as `init` does.
  const std::string out2 = dir.str("hidden_seed");
  ASSERT_EQ(run_command({"forward", "--config", cfg, "--seed", "5", "--wav", wav, "--out-dir", out2}), 0);
  EXPECT_TRUE(same_bits(load_npy(out2 + "/final.npy"), load_npy(out + "/final.npy")));

  // A weights-only file with another number of label classes loads (num_classes follows the label embeddings).
  ModelConfig seven = mc;
  seven.num_classes = 7;
  NamedTensors w;
  {
    NoGradGuard ng;
    w = HubertModel(seven, 9).state_dict();
  }
  const std::string weights = dir.str("weights7.safetensors");
  save_safetensors(weights, w);
  const std::string out3 = dir.str("hidden7");
  ASSERT_EQ(run_command({"forward", "--config", cfg, "--ckpt", weights, "--wav", wav, "--out-dir", out3}), 0);
  EXPECT_TRUE(
      all_close(load_npy(out3 + "/final.npy"), reference_forward(seven, w, back).final.select(0, 0), 1e-6, 1e-5));

  // Too short for the CNN: the error names the file.
  const std::string tiny = dir.str("tiny.wav");
  write_wav(tiny, std::vector<float>(300, 0.1f), kSampleRate);
  EXPECT_TRUE(throws_with(
      [&] {
        run_command({"forward", "--config", cfg, "--wav", tiny, "--out-dir", out});
      },
      "tiny.wav: 300 samples is shorter than the model's receptive field of 325"));
}

TEST(ModelCli, DumpWritesOneLayerPerUtteranceMatchingForward) {
  ThreadScope single(1);
  ScratchDir dir("model_cli");
  const std::string cfg = write_micro_model(dir.str());
  const ModelConfig mc = ModelConfig::load(cfg);
  const std::vector<int64_t> lengths = {8000, 12000, 9600};
  write_tone_corpus(dir.str(), "train", lengths, 4);
  const std::string ckpt = dir.str("init.safetensors");
  ASSERT_EQ(run_command({"init", "--config", cfg, "--seed", "6", "--out", ckpt}), 0);
  const std::string tsv = dir.str("train.tsv"), feats = dir.str("feats");
  ASSERT_EQ(run_command({"dump", "--ckpt", ckpt, "--layer", "2", "--manifest", tsv, "--out-dir", feats}), 0);
  const Manifest m = read_manifest(tsv);
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const Tensor f = load_npy(feat::feature_path(feats, m.entries[i].path));
    EXPECT_EQ(f.shape(), Shape({mc.cnn_output_length(lengths[i]), 32})) << m.entries[i].path;
    // The same numbers `forward` writes for that file's layer 2.
    const std::string out = dir.str("fwd" + std::to_string(i));
    ASSERT_EQ(run_command({"forward", "--config", cfg, "--ckpt", ckpt, "--wav", m.audio_path(i), "--out-dir", out}), 0);
    EXPECT_TRUE(same_bits(f, load_npy(out + "/layer_02.npy"))) << m.entries[i].path;
  }
  EXPECT_TRUE(throws_with(
      [&] {
        run_command({"dump", "--ckpt", ckpt, "--layer", "3", "--manifest", tsv, "--out-dir", feats});
      },
      "--layer 3 outside [0, 2]"));
  EXPECT_TRUE(throws_with(
      [&] {
        run_command({"dump", "--ckpt", ckpt, "--manifest", tsv});
      },
      "missing required option --out-dir"));
}

}  // namespace
}  // namespace hm::test
