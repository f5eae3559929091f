// JSON and safetensors: round trips, conversions, and clear errors for corrupt input.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(Json, ParseDumpRoundTripAndErrors) {
  const Json j = Json::parse(R"({"a": 1, "b": [true, null, "x\n\u00e9"], "c": {"d": -2.5e-3}})");
  EXPECT_EQ(j.at("a").as_int(), 1);
  EXPECT_TRUE(j.at("b")[0].as_bool());
  EXPECT_TRUE(j.at("b")[1].is_null());
  EXPECT_EQ(j.at("b")[2].as_string(), "x\n\xc3\xa9");
  EXPECT_DOUBLE_EQ(j.at("c").at("d").as_number(), -2.5e-3);
  EXPECT_EQ(Json::parse(j.dump()).dump(), j.dump());
  EXPECT_EQ(Json::parse(j.dump(2)).dump(), j.dump());
  EXPECT_TRUE(throws_with([] { Json::parse("{\"a\": 1,\n \"a\": 2}", "cfg.json"); }, "cfg.json:2:"));
  EXPECT_TRUE(throws_with([] { Json::parse("[1, 2", "x.json"); }, "x.json:1:6"));
  EXPECT_TRUE(throws_with([] { Json::parse("{\"a\": tru}"); }, "unexpected character"));
  EXPECT_TRUE(throws_with([&] { j.at("zz"); }, "missing field 'zz'"));
  EXPECT_TRUE(throws_with([&] { j.at("a").as_string("config.a"); }, "config.a: expected a string"));
  EXPECT_TRUE(throws_with([&] { Json(1.5).as_int("config.layers"); }, "config.layers: expected an integer"));
}

TEST(Safetensors, RoundTripAllDtypesAndMetadata) {
  const std::string path = ::testing::TempDir() + "/w.safetensors";
  Generator gen(5);
  NamedTensors in = {{"encoder.weight", randn({3, 4}, DType::f32, gen)},
                     {"encoder.bias", randn({4}, DType::f64, gen)},
                     {"labels", from_vector<int64_t>({1, -2, 3}, {3})},
                     {"count", from_vector<int32_t>({7}, {})},
                     {"empty", zeros({0, 5})}};
  save_safetensors(path, in, {{"format", "pt"}, {"step", "12"}});
  const SafetensorsContents out = load_safetensors(path);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out.tensors[i].first, in[i].first);
    EXPECT_EQ(out.tensors[i].second.dtype(), in[i].second.dtype());
    EXPECT_EQ(out.tensors[i].second.shape(), in[i].second.shape());
    EXPECT_EQ(out.tensors[i].second.to_vector<double>(), in[i].second.to_vector<double>());
  }
  EXPECT_EQ(out.metadata.at("step"), "12");
  // The data section starts 8-byte aligned (header length is a multiple of 8), as the reference writer does.
  std::ifstream f(path, std::ios::binary);
  unsigned char len[8];
  f.read(reinterpret_cast<char*>(len), 8);
  EXPECT_EQ(len[0] % 8, 0);
}

TEST(Safetensors, Bf16AndF16StorageRoundsToNearest) {
  const std::string path = ::testing::TempDir() + "/half.safetensors";
  const std::vector<float> v = {1.0f, -2.5f, 3.14159265f, 1e-3f, 65504.0f, 1e-7f, 0.0f, -0.0f};
  for (DType as : {DType::bf16, DType::f16}) {
    save_safetensors(path, {{"w", from_vector(v, {8})}}, {}, as, /*convert_floats=*/true);
    const SafetensorsContents c = load_safetensors(path);
    EXPECT_EQ(c.stored_dtypes.at("w"), as);
    const std::vector<float> back = c.tensors[0].second.to_vector<float>();
    const double rel = as == DType::bf16 ? 1.0 / 256 : 1.0 / 2048;
    for (size_t i = 0; i < v.size(); ++i) {
      if (as == DType::f16 && std::abs(v[i]) < 6.1e-5f) {
        EXPECT_NEAR(back[i], v[i], 6e-8) << i;  // f16 subnormal spacing
      } else {
        EXPECT_NEAR(back[i], v[i], std::abs(v[i]) * rel) << dtype_name(as) << " " << i;
      }
    }
  }
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)), 1.0f);  // tie rounds to even
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(NAN))));
  EXPECT_TRUE(std::isinf(f16_to_float(float_to_f16(1e6f))));
  for (uint32_t h = 0; h < 0x7C00; h += 7) EXPECT_EQ(float_to_f16(f16_to_float(uint16_t(h))), h);
}

TEST(Safetensors, CorruptFilesGiveClearErrors) {
  const std::string path = ::testing::TempDir() + "/bad.safetensors";
  EXPECT_TRUE(throws_with([] { load_safetensors("/nonexistent/w.safetensors"); }, "/nonexistent/w.safetensors"));
  save_safetensors(path, {{"w", zeros({64})}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  EXPECT_TRUE(throws_with([&] { load_safetensors(path); }, "outside the data section"));
  {
    std::ofstream f(path, std::ios::binary);
    f << "garbage!garbage!";
  }
  EXPECT_TRUE(throws_with([&] { load_safetensors(path); }, "corrupt safetensors header length"));
  // An interrupted save leaves the old file intact: a failing save (unwritable dir) does not touch `path`.
  save_safetensors(path, {{"w", ones({2})}});
  EXPECT_TRUE(throws_with([] { save_safetensors("/nonexistent/dir/x.safetensors", {{"w", ones({2})}}); },
                          "cannot open for writing"));
  EXPECT_EQ(load_safetensors(path).tensors[0].second.to_vector<float>(), (std::vector<float>{1, 1}));
}

}  // namespace
}  // namespace hm::test
