// Every encoder layer type against the PyTorch reference (tools/reference/hubmamba_ref.py, itself checked against
// torchaudio's HuBERT): forward per layer, feature penalty, cosine logits, loss, every parameter gradient,
// BatchNorm buffers, eval mode and the faithful-padding option (fixtures: tests/fixtures/models/README.md).
#include <filesystem>

#include "engine/npy.h"
#include "engine/safetensors.h"
#include "models/hubert.h"
#include "ops/ops.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

const std::string kRoot = std::string(HM_SOURCE_DIR) + "/tests/fixtures/models/";
const char* kTypes[] = {"transformer", "conformer", "mamba", "extbimamba", "innbimamba", "conbimamba"};

struct FixtureRun {
  HubertOutput out;
  Tensor logits, loss;
};

// The fixture's objective: mean CE over masked valid frames + 10 * features_pen.
FixtureRun run_fixture(const HubertModel& m, const std::string& dir) {
  const Tensor wave = load_npy(dir + "wave.npy");
  const std::vector<int64_t> lengths = load_npy(dir + "sample_lengths.npy").to_vector<int64_t>();
  const Tensor mask = load_npy(dir + "frame_mask.npy");
  const Tensor targets = load_npy(dir + "targets.npy");
  FixtureRun r;
  r.out = m.forward(wave, lengths, mask, true);
  const int64_t B = mask.size(0), T = mask.size(1);
  const std::vector<uint8_t> mk = mask.to_vector<uint8_t>();
  const std::vector<int64_t> tg = targets.to_vector<int64_t>();
  std::vector<int64_t> idx, tgt;
  for (int64_t i = 0; i < B * T; ++i)
    if (mk[size_t(i)]) idx.push_back(i), tgt.push_back(tg[size_t(i)]);
  const Tensor frames = index_select(r.out.final.reshape({B * T, m.cfg.d_model}), 0, from_vector(idx, {int64_t(idx.size())}));
  r.logits = m.logits(frames);
  r.loss = add(cross_entropy(r.logits, from_vector(tgt, {int64_t(tgt.size())})), mul(r.out.features_pen, 10.0));
  return r;
}

std::unique_ptr<HubertModel> load_fixture_model(const std::string& dir, bool faithful = false) {
  ModelConfig cfg = ModelConfig::load(dir + "config.json");
  cfg.faithful_padding = faithful;
  auto m = std::make_unique<HubertModel>(cfg, 0);
  m->load_state_dict(load_safetensors(dir + "weights.safetensors").tensors);
  m->train();
  return m;
}

// Float32 engine vs float64-computed reference stored as float32.
::testing::AssertionResult close(const Tensor& got, const std::string& path, double atol = 2e-5, double rtol = 2e-4) {
  return all_close(got, load_npy(path), atol, rtol);
}

TEST(Models, EveryLayerTypeMatchesThePyTorchReference) {
  for (const std::string type : kTypes) {
    SCOPED_TRACE(type);
    const std::string dir = kRoot + type + "/";
    auto m = load_fixture_model(dir);
    FixtureRun r = run_fixture(*m, dir);
    EXPECT_TRUE(close(r.out.cnn, dir + "cnn.npy"));
    EXPECT_TRUE(close(r.out.features_pen, dir + "features_pen.npy"));
    for (size_t i = 0; i < r.out.hidden.size(); ++i)
      EXPECT_TRUE(close(r.out.hidden[i], dir + "hidden_" + std::to_string(i) + ".npy")) << "hidden " << i;
    EXPECT_TRUE(close(r.out.final, dir + "final.npy"));
    EXPECT_TRUE(close(r.logits, dir + "logits.npy", 1e-4, 2e-4));
    EXPECT_TRUE(close(r.loss, dir + "loss.npy", 1e-5, 1e-5));

    r.loss.backward();
    std::map<std::string, Tensor> params;
    for (const auto& [n, p] : m->named_parameters()) params[n] = p;
    const SafetensorsContents grads = load_safetensors(dir + "grads.safetensors");
    ASSERT_EQ(grads.tensors.size(), params.size());
    for (const auto& [name, g] : grads.tensors) {
      ASSERT_TRUE(params.count(name)) << name;
      const Tensor mine = params[name].grad();
      ASSERT_TRUE(mine.defined()) << "no gradient reached " << name;
      // Gradients scale with the loss; tolerances relative to the largest entry of each tensor.
      double scale = 0;
      for (float v : g.to_vector<float>()) scale = std::max(scale, double(std::abs(v)));
      EXPECT_TRUE(all_close(mine, g, 1e-4 * scale + 1e-7, 2e-3)) << "gradient of " << name;
    }
    if (std::filesystem::exists(dir + "buffers_after.safetensors"))
      for (const auto& [name, b] : load_safetensors(dir + "buffers_after.safetensors").tensors)
        for (const auto& [n, mine] : m->named_buffers())
          if (n == name) {  // braces: gtest's EXPECT_* is an if/else (-Werror=dangling-else with GCC 12)
            EXPECT_TRUE(all_close(mine, b, 1e-6, 1e-5)) << name;
          }
  }
}

TEST(Models, EvalModeAndFaithfulPaddingMatchTheReference) {
  for (const std::string type : kTypes) {
    SCOPED_TRACE(type);
    const std::string dir = kRoot + type + "/";
    {
      auto m = load_fixture_model(dir);
      m->eval();
      NoGradGuard ng;
      EXPECT_TRUE(close(run_fixture(*m, dir).out.final, dir + "eval_final.npy"));
    }
    if (std::filesystem::exists(dir + "faithful/final.npy")) {
      auto m = load_fixture_model(dir, /*faithful=*/true);
      NoGradGuard ng;
      const FixtureRun r = run_fixture(*m, dir);
      EXPECT_TRUE(close(r.out.final, dir + "faithful/final.npy"));
      EXPECT_TRUE(close(r.loss, dir + "faithful/loss.npy", 1e-5, 1e-5));
    }
  }
}

TEST(Models, ParameterCountsMatchTheReference) {
  const Json counts = Json::parse_file(kRoot + "param_counts.json");
  for (const std::string& name : preset_names()) {
    if (name.rfind("base-", 0) == 0 && name != "base-transformer") continue;  // base models take seconds to build
    NoGradGuard ng;
    HubertModel m(preset(name), 0);
    EXPECT_EQ(m.num_parameters(), counts.at(name).as_int()) << name;
  }
}

TEST(Models, BadInputsGiveClearErrors) {
  HubertModel m(preset("tiny-mamba"), 0);
  EXPECT_TRUE(throws_with([&] { m.forward(zeros({2, 100}), {}, Tensor(), false); }, "shorter than the CNN receptive field of 400"));
  EXPECT_TRUE(throws_with([&] { m.forward(zeros({2, 4000}), {4000}, Tensor(), false); }, "1 lengths for a batch of 2"));
  EXPECT_TRUE(throws_with([&] { m.forward(zeros({1, 4000}), {}, zeros({1, 3}, DType::u8), false); }, "frame mask"));
  EXPECT_TRUE(throws_with([&] { m.forward(zeros({4000}), {}, Tensor(), false); }, "(B, L) waveform batch"));
}

}  // namespace
}  // namespace hm::test
