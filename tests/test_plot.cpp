// Plot writer: valid PNG/SVG files, clear errors for unusable input.
#include <filesystem>
#include <fstream>

#include "train/plot.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

PlotSpec demo_spec() {
  PlotSpec s{"Loss", "step", "loss", {}, false, 400, 300};
  Series a{"tiny-transformer", {}, {}}, b{"tiny-conbimamba", {}, {}};
  for (int i = 0; i < 50; ++i) {
    a.x.push_back(i), a.y.push_back(5.0 / (1 + i));
    b.x.push_back(i), b.y.push_back(4.0 / (1 + 0.5 * i));
  }
  s.series = {a, b};
  return s;
}

TEST(Plot, WritesPngAndSvg) {
  const std::string png = ::testing::TempDir() + "/loss.png", svg = ::testing::TempDir() + "/loss.svg";
  write_plot(png, demo_spec());
  std::ifstream f(png, std::ios::binary);
  char sig[8];
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_GT(std::filesystem::file_size(png), 500u);
  PlotSpec log_spec = demo_spec();
  log_spec.log_y = true;
  write_plot(svg, log_spec);
  std::ifstream g(svg);
  std::string text((std::istreambuf_iterator<char>(g)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<polyline"), std::string::npos);
  EXPECT_NE(text.find("tiny-conbimamba"), std::string::npos);
}

TEST(Plot, ErrorsNameTheProblem) {
  PlotSpec s = demo_spec();
  EXPECT_TRUE(throws_with([&] { write_plot("/tmp/x.jpg", s); }, ".png or .svg"));
  s.series[0].y.pop_back();
  EXPECT_TRUE(throws_with([&] { write_plot(::testing::TempDir() + "/a.png", s); }, "50 x but 49 y"));
  PlotSpec empty{"Empty", "x", "y", {{"nan", {1}, {NAN}}}};
  EXPECT_TRUE(throws_with([&] { write_plot(::testing::TempDir() + "/b.png", empty); }, "no finite points"));
}

}  // namespace
}  // namespace hm::test
