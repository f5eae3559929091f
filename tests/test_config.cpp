// Model configs: presets, JSON round trip, validation errors naming the field.
#include <fstream>

#include "models/config.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(ModelConfig, HubertBaseGeometry) {
  const ModelConfig c = preset("base-transformer");
  EXPECT_EQ(c.cnn_stride(), 320);
  EXPECT_EQ(c.cnn_receptive_field(), 400);
  EXPECT_EQ(c.cnn_output_length(16000), 49);  // 1 s -> 49 frames, as fairseq/torchaudio
  EXPECT_EQ(c.cnn_output_length(399), 0);
  EXPECT_EQ(c.cnn_output_length(400), 1);
  EXPECT_EQ(preset("tiny-conbimamba").cnn_stride(), 320);
  EXPECT_EQ(preset_names().size(), 12u);
  EXPECT_TRUE(preset("tiny-innbimamba").is_mamba_family());
  EXPECT_FALSE(preset("tiny-conformer").is_mamba_family());
}

TEST(ModelConfig, JsonRoundTripAndOverridesFromAPreset) {
  const ModelConfig a = preset("tiny-extbimamba");
  const ModelConfig b = ModelConfig::from_json(a.to_json());
  EXPECT_EQ(b.to_json().dump(), a.to_json().dump());
  const ModelConfig c = ModelConfig::from_json(Json::parse(R"({"base": "tiny-mamba", "num_layers": 2})"));
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.d_model, 192);
}

TEST(ModelConfig, BadConfigsNameTheField) {
  EXPECT_TRUE(throws_with([] { ModelConfig::from_json(Json::parse(R"({"layer_type": "lstm"})"), "m.json"); },
                          "m.json.layer_type"));
  EXPECT_TRUE(throws_with([] { ModelConfig::from_json(Json::parse(R"({"num_heads": 5})"), "m.json"); },
                          "m.json.num_heads"));
  EXPECT_TRUE(throws_with([] { ModelConfig::from_json(Json::parse(R"({"dropuot": 0.1})"), "m.json"); },
                          "unknown field 'dropuot'"));
  EXPECT_TRUE(throws_with([] { ModelConfig::from_json(Json::parse(R"({"dropout": "x"})"), "m.json"); },
                          "m.json.dropout: expected a number"));
  EXPECT_TRUE(throws_with([] { preset("huge-transformer"); }, "known: tiny-transformer"));
  EXPECT_TRUE(throws_with([] { ModelConfig::load("/nonexistent/model.json"); }, "config file not found"));
  const std::string path = ::testing::TempDir() + "/bad.json";
  std::ofstream(path) << "{\"d_model\": 64,";
  EXPECT_TRUE(throws_with([&] { ModelConfig::load(path); }, path + ":1:"));
}

}  // namespace
}  // namespace hm::test
