// The model fixtures of tools/reference/make_model_fixtures.py (tests/fixtures/models/README.md) load with the
// engine's own readers and are consistent with ModelConfig: config JSON, safetensors weights / gradients / buffers,
// .npy inputs and expected outputs, with the shapes the C++ model will produce. The model tests compare values.
#include <filesystem>
#include <set>

#include "engine/json.h"
#include "engine/npy.h"
#include "engine/safetensors.h"
#include "models/config.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

const std::string kRoot = std::string(HM_SOURCE_DIR) + "/tests/fixtures/models";

bool is_buffer(const std::string& name) {  // BatchNorm1d buffers (no gradient)
  for (const std::string leaf : {".running_mean", ".running_var", ".num_batches_tracked"})
    if (name.size() > leaf.size() && name.compare(name.size() - leaf.size(), leaf.size(), leaf) == 0) return true;
  return false;
}

TEST(ModelFixtures, EveryLayerTypeLoadsAndHasTheModelShapes) {
  for (const std::string type : {"transformer", "conformer", "mamba", "extbimamba", "innbimamba", "conbimamba"}) {
    SCOPED_TRACE(type);
    const std::string dir = kRoot + "/" + type + "/";
    const ModelConfig cfg = ModelConfig::load(dir + "config.json");
    EXPECT_EQ(cfg.layer_type, type);
    EXPECT_EQ(cfg.dropout, 0.0);
    EXPECT_EQ(cfg.encoder_layerdrop, 0.0);

    const SafetensorsContents weights = load_safetensors(dir + "weights.safetensors");
    const SafetensorsContents grads = load_safetensors(dir + "grads.safetensors");
    std::map<std::string, Shape> wshape;
    for (const auto& [name, t] : weights.tensors) wshape[name] = t.shape();
    size_t n_params = 0;
    for (const auto& [name, t] : weights.tensors) {
      if (is_buffer(name)) continue;
      ++n_params;
      EXPECT_EQ(t.dtype(), DType::f32) << name;
    }
    EXPECT_EQ(grads.tensors.size(), n_params);
    for (const auto& [name, g] : grads.tensors) {
      ASSERT_TRUE(wshape.count(name)) << "gradient of unknown parameter " << name;
      EXPECT_EQ(g.shape(), wshape[name]) << name;
    }
    EXPECT_TRUE(wshape.count("wav2vec2.encoder.transformer.layers.1.final_layer_norm.weight") ||
                wshape.count("wav2vec2.encoder.transformer.layers.1.norm.weight"));
    EXPECT_EQ(wshape["logit_generator.label_embeddings"], Shape({cfg.num_classes, cfg.final_dim}));

    const Tensor wave = load_npy(dir + "wave.npy");
    ASSERT_EQ(wave.dim(), 2);
    const int64_t B = wave.size(0), L = wave.size(1), T = cfg.cnn_output_length(L), d = cfg.d_model;
    const std::vector<int64_t> samples = load_npy(dir + "sample_lengths.npy").to_vector<int64_t>();
    const std::vector<int64_t> frames = load_npy(dir + "frame_lengths.npy").to_vector<int64_t>();
    ASSERT_EQ(int64_t(samples.size()), B);
    for (int64_t b = 0; b < B; ++b) EXPECT_EQ(frames[size_t(b)], cfg.cnn_output_length(samples[size_t(b)]));
    const Tensor mask = load_npy(dir + "frame_mask.npy");
    EXPECT_EQ(mask.dtype(), DType::u8);
    EXPECT_EQ(mask.shape(), Shape({B, T}));
    EXPECT_EQ(load_npy(dir + "targets.npy").dtype(), DType::i64);
    const std::vector<uint8_t> m = mask.to_vector<uint8_t>();
    int64_t masked = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) masked += m[size_t(b * T + t)] && t < frames[size_t(b)];
    EXPECT_EQ(load_npy(dir + "logits.npy").shape(), Shape({masked, cfg.num_classes}));
    EXPECT_EQ(load_npy(dir + "cnn.npy").shape(), Shape({B, T, cfg.conv_layers.back().channels}));
    for (int64_t i = 0; i <= cfg.num_layers; ++i)
      EXPECT_EQ(load_npy(dir + "hidden_" + std::to_string(i) + ".npy").shape(), Shape({B, T, d}));
    EXPECT_EQ(load_npy(dir + "final.npy").shape(), Shape({B, T, d}));
    EXPECT_EQ(load_npy(dir + "eval_final.npy").shape(), Shape({B, T, d}));
    EXPECT_EQ(load_npy(dir + "loss.npy").shape(), Shape{});
    EXPECT_EQ(load_npy(dir + "features_pen.npy").shape(), Shape{});

    const bool has_bn = type == "conformer" || type == "conbimamba";
    EXPECT_EQ(std::filesystem::exists(dir + "buffers_after.safetensors"), has_bn);
    if (has_bn) {
      for (const auto& [name, t] : load_safetensors(dir + "buffers_after.safetensors").tensors) {
        EXPECT_TRUE(is_buffer(name)) << name;
        EXPECT_EQ(t.shape(), wshape[name]) << name;
        if (t.dtype() == DType::i64) {
          EXPECT_EQ(t.to_vector<int64_t>()[0], 1) << name;  // one training forward
        }
      }
    }
    const bool bidirectional = type == "extbimamba" || type == "innbimamba" || type == "conbimamba";
    EXPECT_EQ(std::filesystem::exists(dir + "faithful/final.npy"), bidirectional);
  }
}

TEST(ModelFixtures, ParameterCountsCoverEveryPreset) {
  const Json counts = Json::parse_file(kRoot + "/param_counts.json");
  std::set<std::string> seen;
  for (const auto& [name, n] : counts.as_object()) {
    seen.insert(name);
    EXPECT_GT(n.as_int(name), 0);
  }
  for (const std::string& p : preset_names()) EXPECT_TRUE(seen.count(p)) << p;
  EXPECT_EQ(counts.at("base-transformer").as_int(), 94594176);  // torchaudio hubert_pretrain_base(num_classes=100)
}

}  // namespace
}  // namespace hm::test
