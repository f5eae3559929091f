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

// All test sources with whitespace removed, so a call split across lines by clang-format still matches.
std::string all_test_sources() {
  std::string text;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(HM_SOURCE_DIR) + "/tests")) {
    if (entry.path().extension() != ".cpp" || entry.path().filename() == "test_coverage.cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    for (char c : ss.str())
      if (!std::isspace(static_cast<unsigned char>(c))) text.push_back(c);
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
  const std::string src = all_test_sources();
  for (KernelTableBase* t : kernel_tables()) {
    const auto v = t->variants();
    EXPECT_NE(std::find(v.begin(), v.end(), "scalar"), v.end()) << t->op() << " lacks a scalar variant";
    // Conformance tests name the table they cover in a comment or string: "conformance: <op>".
    EXPECT_NE(src.find("conformance:" + t->op()), std::string::npos)
        << "kernel table '" << t->op() << "' has no conformance test (mark it with \"conformance: " << t->op()
        << "\")";
  }
}

TEST(Coverage, KernelOverrideSelectsAndRejects) {
  for (KernelTableBase* t : kernel_tables()) {
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
