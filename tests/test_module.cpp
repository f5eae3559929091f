// Module tree: names, parameter counts, train/eval propagation, state-dict round trip through safetensors, and
// load errors listing every mismatch.
#include "engine/safetensors.h"
#include "models/module.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

class Leaf : public Module {
 public:
  explicit Leaf(int64_t n) : weight(zeros({n, 2})), bias(zeros({n})), running(ones({n})) {
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
    register_buffer("running", &running);
  }
  Tensor weight, bias, running;
  bool last_mode = true;

 protected:
  void on_train_mode(bool t) override { last_mode = t; }
};

class Tree : public Module {
 public:
  Tree() {
    a = register_module("a", std::make_shared<Leaf>(3));
    b = register_module("layers.0", std::make_shared<Leaf>(1));
  }
  std::shared_ptr<Leaf> a, b;
};

TEST(Module, NamesCountsAndModes) {
  Tree t;
  std::vector<std::string> names;
  for (auto& [n, p] : t.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"a.weight", "a.bias", "layers.0.weight", "layers.0.bias"}));
  EXPECT_EQ(t.num_parameters(), 3 * 2 + 3 + 2 + 1);
  EXPECT_EQ(t.state_dict().size(), 6u);
  EXPECT_TRUE(t.a->weight.requires_grad());
  t.eval();
  EXPECT_FALSE(t.b->is_training());
  EXPECT_FALSE(t.b->last_mode);
  t.train();
  EXPECT_TRUE(t.a->last_mode);
}

TEST(Module, StateDictRoundTripThroughSafetensors) {
  Tree src, dst;
  Generator gen(3);
  for (auto& [n, p] : src.state_dict()) fill_normal(p.detach(), 0, 1, gen);
  const std::string path = ::testing::TempDir() + "/tree.safetensors";
  save_safetensors(path, src.state_dict());
  dst.load_state_dict(load_safetensors(path).tensors);
  const NamedTensors a = src.state_dict(), b = dst.state_dict();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>());
}

TEST(Module, LoadReportsEveryMismatchAtOnce) {
  Tree t;
  NamedTensors bad = t.state_dict();
  bad.erase(bad.begin());                            // missing a.weight
  bad[0].second = zeros({4});                        // a.bias wrong shape
  bad.emplace_back("extra.weight", zeros({1}));      // unexpected
  bad[1].second = zeros({1, 2}, DType::i64);         // layers.0.weight wrong dtype
  try {
    t.load_state_dict(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("4 mismatch(es)"), std::string::npos) << m;
    EXPECT_NE(m.find("missing a.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("shape of a.bias"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected extra.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("dtype of layers.0.weight"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace hm::test
