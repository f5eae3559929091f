// Meta-tests that keep the suite honest (DESIGN.md 3):
//  * every registered differentiable op has a float64 gradient check somewhere in tests/ (a call
//    expect_gradcheck("op_name", ...));
//  * every kernel table is exercised by a conformance test (its op name appears in a tests/ file that calls
//    check_all_variants) and has a "scalar" reference variant.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace hm::test {
namespace {

// All test sources with whitespace removed (keep_whitespace = false), so a call split across lines by
// clang-format still matches.
std::string all_test_sources(bool keep_whitespace = false) {
  std::string text;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(HM_SOURCE_DIR) + "/tests")) {
    if (entry.path().extension() != ".cpp" || entry.path().filename() == "test_coverage.cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    for (char c : ss.str())
      if (keep_whitespace || !std::isspace(static_cast<unsigned char>(c))) text.push_back(c);
  }
  return text;
}

TEST(Coverage, EveryDifferentiableOpHasAGradcheck) {
  const std::string src = all_test_sources();
  EXPECT_FALSE(differentiable_ops().empty());
  for (const std::string& op : differentiable_ops())
    EXPECT_NE(src.find("expect_gradcheck(\"" + op + "\""), std::string::npos)
        << "differentiable op '" << op << "' has no expect_gradcheck(\"" << op << "\", ...) test";
}

TEST(Coverage, EveryKernelTableHasAConformanceTestAndScalarReference) {
  const std::string src = all_test_sources(/*keep_whitespace=*/true);
  // True when the text has "conformance:" + optional blanks + name, followed by a character that cannot continue a
  // table name (so "conformance: gemm" does not cover "gemm@cuda" nor "gemm_f32").
  auto marked = [&](const std::string& name) {
    const std::string tag = "conformance:";
    for (size_t at = src.find(tag); at != std::string::npos; at = src.find(tag, at + 1)) {
      size_t p = at + tag.size();
      while (p < src.size() && (src[p] == ' ' || src[p] == '\t')) ++p;
      if (src.compare(p, name.size(), name) != 0) continue;
      const size_t end = p + name.size();
      if (end == src.size() ||
          !(std::isalnum(static_cast<unsigned char>(src[end])) || src[end] == '_' || src[end] == '@'))
        return true;
    }
    return false;
  };
  for (KernelTableBase* t : kernel_tables()) {
    const auto v = t->variants();
    // CUDA tables are checked against the CPU table's scalar variant; CPU tables carry their own.
    if (t->device() == DeviceType::cpu) {
      EXPECT_NE(std::find(v.begin(), v.end(), "scalar"), v.end()) << t->name() << " lacks a scalar variant";
    }
    // Conformance tests name the table they cover in a comment or string: "conformance: <op>" or "<op>@cuda".
    EXPECT_TRUE(marked(t->name())) << "kernel table '" << t->name() << "' has no conformance test (mark it with \"conformance: "
                       << t->name() << "\")";
  }
}

TEST(Coverage, KernelOverrideSelectsAndRejects) {
  for (KernelTableBase* t : kernel_tables()) {
    if (t->device() != DeviceType::cpu) {
      // A CPU variant override leaves the CUDA table on its own default; a CUDA variant override selects it.
      if (t->variants().empty()) continue;  // a CPU-only build registers no CUDA variants
      if (override_belongs_elsewhere(t->op(), "scalar", t)) {
        set_kernel_overrides(t->op() + "=scalar");
        EXPECT_NE(t->selected(), "scalar");
      }
      set_kernel_overrides(t->op() + "=" + t->variants().front());
      EXPECT_EQ(t->selected(), t->variants().front());
      clear_kernel_overrides();
      continue;
    }
    set_kernel_overrides(t->op() + "=scalar");
    EXPECT_EQ(t->selected(), "scalar");
    set_kernel_overrides(t->op() + "=no_such_variant");
    EXPECT_TRUE(throws_with([&] { t->selected(); }, "no such variant"));
  }
  clear_kernel_overrides();  // later tests in this process must see the default selection
  EXPECT_TRUE(throws_with([] { set_kernel_overrides("justtext"); }, "op=variant"));
}

}  // namespace
}  // namespace hm::test
