// conv1d / conv2d / weight_norm: PyTorch 1.13 fixtures (tools/reference/fixtures_conv.py) through every kernel
// variant in f32 and f64, float64 gradient checks, forward checks on random shapes against a naive loop written
// here, and the error messages.
#include <string>

#include "engine/npy.h"
#include "engine/strided.h"
#include "ops/conv.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

// ------------------------------------------------------------------------------------------------ helpers

// tests/fixtures/conv/<case>.<name>.npy as `dtype`, requiring grad.
Tensor fixture(const std::string& c, const std::string& name, DType dtype = DType::f64) {
  Tensor t = load_npy(std::string(HM_SOURCE_DIR) + "/tests/fixtures/conv/" + c + "." + name + ".npy").to(dtype);
  const bool reference = name == "y" || name == "gy" || name.rfind("g_", 0) == 0;
  if (!reference) t.requires_grad_(true);
  return t;
}

// f64 to ~1e-10; f32 to ~1e-5 relative (plus 1e-5 of the tensor's largest magnitude for entries near zero).
::testing::AssertionResult matches(const Tensor& got, const Tensor& ref) {
  const std::vector<double> r = ref.to_vector<double>();
  double scale = 0;
  for (double v : r) scale = std::max(scale, std::abs(v));
  const double rel = got.dtype() == DType::f64 ? 1e-10 : 1e-5;
  return all_close(got, ref, rel * scale, rel);
}

// Runs f once per variant of `table` (override set for the duration), then restores the previously selected one.
template <class Fn, class F>
void for_each_variant(const KernelTable<Fn>& table, F&& f) {
  const std::string before = table.selected();
  for (const std::string& v : table.variants()) {
    SCOPED_TRACE("kernel " + table.op() + "=" + v);
    set_kernel_overrides(table.op() + "=" + v);
    f();
  }
  set_kernel_overrides(table.op() + "=" + before);
}

// Forward + backward of y = fn(inputs) with upstream gradient fixture gy; compares y and every input's gradient
// against the fixture (g_<name>), in f64 and f32.
void check_fixture(const std::string& c, const std::vector<std::string>& names,
                   const std::function<Tensor(const std::vector<Tensor>&)>& fn) {
  for (DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(c + " " + dtype_name(dt));
    std::vector<Tensor> in;
    for (const auto& n : names) in.push_back(fixture(c, n, dt));
    Tensor y = fn(in);
    EXPECT_TRUE(matches(y, fixture(c, "y"))) << "y";
    y.backward(fixture(c, "gy", dt));
    for (size_t i = 0; i < names.size(); ++i)
      EXPECT_TRUE(matches(in[i].grad(), fixture(c, "g_" + names[i]))) << "gradient of " << names[i];
  }
}

// ------------------------------------------------------------------------------------------- PyTorch fixtures

TEST(Conv1d, MatchesPyTorchHubertStem) {
  for_each_variant(conv1d_dense_table(), [] {
    auto f = [](int64_t s) {
      return [s](const std::vector<Tensor>& in) { return conv1d(in[0], in[1], Tensor(), {.stride = s}); };
    };
    check_fixture("stem0", {"x", "w"}, f(5));
    check_fixture("stem_k3s2", {"x", "w"}, f(2));
    check_fixture("stem_k2s2", {"x", "w"}, f(2));
    check_fixture("general", {"x", "w", "b"}, [](const std::vector<Tensor>& in) {
      return conv1d(in[0], in[1], in[2],
                    {.stride = 2, .padding_left = 2, .padding_right = 1, .dilation = 2, .groups = 2});
    });
  });
}

TEST(Conv1d, MatchesPyTorchPositionalConvWithWeightNorm) {
  for_each_variant(conv1d_dense_table(), [] {
    check_fixture("posconv", {"x", "v", "g", "b"}, [](const std::vector<Tensor>& in) {
      return conv1d(in[0], weight_norm(in[1], in[2], 2), in[3], conv1d_params(1, 4, 1, 16));
    });
  });
}

TEST(Conv1d, MatchesPyTorchDepthwiseConformerAndMambaCausal) {
  for_each_variant(conv1d_depthwise_table(), [] {
    check_fixture("conformer_dw", {"x", "w"}, [](const std::vector<Tensor>& in) {
      return conv1d(in[0], in[1], Tensor(), conv1d_params(1, 15, 1, 6));
    });
    check_fixture("mamba_causal", {"x", "w", "b"}, [](const std::vector<Tensor>& in) {
      return conv1d(in[0], in[1], in[2], {.padding_left = 3, .padding_right = 0, .groups = 5});
    });
  });
}

TEST(Conv2d, MatchesPyTorchConv2dSubsampling) {
  for_each_variant(conv2d_table(), [] {
    auto sub = [](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in[2], {.stride_h = 2, .stride_w = 2});
    };
    check_fixture("sub1", {"x", "w", "b"}, sub);
    check_fixture("sub2", {"x", "w", "b"}, sub);
    check_fixture("conv2d_general", {"x", "w", "b"}, [](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in[2],
                    {.stride_h = 2, .stride_w = 1, .padding_h = 1, .padding_w = 2, .dilation_h = 1, .dilation_w = 2});
    });
  });
}

TEST(WeightNorm, MatchesPyTorch) {
  check_fixture("wn_dim0", {"v", "g"}, [](const std::vector<Tensor>& in) { return weight_norm(in[0], in[1], 0); });
  check_fixture("wn_dim2", {"v", "g"}, [](const std::vector<Tensor>& in) { return weight_norm(in[0], in[1], -1); });
}

// ------------------------------------------------------------------------------------------- gradient checks

TEST(Conv1d, GradcheckDense) {
  struct Case {
    Shape x, w;
    bool bias;
    Conv1dParams p;
  };
  const std::vector<Case> cases = {
      {{2, 1, 23}, {3, 1, 10}, false, {.stride = 5}},  // stem 0, partial window
      {{2, 3, 13}, {2, 3, 3}, true, {.stride = 2}},    // odd length, stride 2
      {{1, 4, 11}, {6, 2, 3}, true, {.stride = 2, .padding_left = 2, .padding_right = 1, .dilation = 2, .groups = 2}},
      {{2, 4, 9}, {4, 1, 4}, true, conv1d_params(1, 2, 1, 4)},  // positional-conv style
      {{1, 3, 7}, {2, 3, 1}, true, {}},                         // pointwise
      {{1, 2, 5}, {3, 2, 1}, false, {.padding_right = 2}},      // pointwise, right pad
      {{1, 1, 1}, {1, 1, 1}, true, {}},                         // size 1
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x) + " " + shape_str(c.w));
    Tensor x = randn_param(c.x, seed++), w = randn_param(c.w, seed++);
    Tensor b = c.bias ? randn_param({c.w[0]}, seed++) : Tensor();
    const Conv1dParams p = c.p;
    expect_gradcheck("conv1d", [p](const std::vector<Tensor>& in) { return conv1d(in[0], in[1], in[2], p); },
                     {x, w, b});
  }
}

TEST(Conv1d, GradcheckDepthwise) {
  // Conformer-style same padding, Mamba causal, stride 2 with dilation and asymmetric padding.
  const std::vector<std::pair<Shape, Conv1dParams>> cases = {
      {{2, 3, 9, 7}, conv1d_params(1, 3, 1, 3)},
      {{2, 4, 11, 4}, {.padding_left = 3, .padding_right = 0, .groups = 4}},
      {{1, 3, 12, 3}, {.stride = 2, .padding_left = 1, .padding_right = 2, .dilation = 2, .groups = 3}},
      {{1, 2, 2, 5}, {.stride = 3, .padding_left = 4, .padding_right = 1, .groups = 2}},
  };
  uint64_t seed = 40;
  for (const auto& [s, p] : cases) {  // s = (B, C, L, K)
    Tensor x = randn_param({s[0], s[1], s[2]}, seed++), w = randn_param({s[1], 1, s[3]}, seed++);
    Tensor b = randn_param({s[1]}, seed++);
    const Conv1dParams pp = p;
    expect_gradcheck("conv1d", [pp](const std::vector<Tensor>& in) { return conv1d(in[0], in[1], in[2], pp); },
                     {x, w, b});
  }
}

TEST(Conv1d, GradcheckSubsetsOfInputs) {
  // Only x, only w, only the bias require grad: each backward path on its own.
  for (int which = 0; which < 3; ++which) {
    std::vector<Tensor> in = {randn_param({2, 2, 8}, 60), randn_param({3, 2, 3}, 61), randn_param({3}, 62)};
    for (int i = 0; i < 3; ++i) in[i].requires_grad_(i == which);
    auto f = [](const std::vector<Tensor>& t) { return conv1d(t[0], t[1], t[2], {.stride = 2}); };
    expect_gradcheck("conv1d", f, in);
  }
}

TEST(Conv2d, Gradcheck) {
  Tensor x = randn_param({2, 2, 7, 6}, 70), w = randn_param({3, 2, 3, 3}, 71), b = randn_param({3}, 72);
  auto subsample = [](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], in[2], {.stride_h = 2, .stride_w = 2});
  };
  expect_gradcheck("conv2d", subsample, {x, w, b});
  Tensor x2 = randn_param({1, 2, 6, 7}, 73), w2 = randn_param({2, 2, 2, 3}, 74);
  auto general = [](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], Tensor(),
                  {.stride_h = 1, .stride_w = 2, .padding_h = 1, .padding_w = 2, .dilation_h = 2, .dilation_w = 1});
  };
  expect_gradcheck("conv2d", general, {x2, w2});
}

TEST(WeightNorm, Gradcheck) {
  Tensor v = randn_param({4, 3, 5}, 80), g2 = randn_param({1, 1, 5}, 81), g0 = randn_param({4, 1, 1}, 82);
  expect_gradcheck("weight_norm", [](const std::vector<Tensor>& in) { return weight_norm(in[0], in[1], 2); }, {v, g2});
  expect_gradcheck("weight_norm", [](const std::vector<Tensor>& in) { return weight_norm(in[0], in[1], 0); }, {v, g0});
  Tensor v1 = randn_param({7}, 83), g1 = randn_param({7}, 84);  // rank 1: every element its own norm
  expect_gradcheck("weight_norm", [](const std::vector<Tensor>& in) { return weight_norm(in[0], in[1], 0); }, {v1, g1});
}

// ------------------------------------------------------------------------------------- forward, random shapes

// y[b, co, t] straight from the definition, in double, with its own indexing (independent of cpu/).
std::vector<double> naive_conv1d(const Tensor& x, const Tensor& w, const Conv1dParams& p, int64_t Lout) {
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const int64_t B = x.size(0), Cin = x.size(1), L = x.size(2), Cout = w.size(0), cg = w.size(1), K = w.size(2);
  std::vector<double> y(size_t(B * Cout * Lout), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t t = 0; t < Lout; ++t)
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t k = 0; k < K; ++k) {
            const int64_t i = t * p.stride + k * p.dilation - p.padding_left;
            const int64_t ci = co / (Cout / p.groups) * cg + c;
            if (i >= 0 && i < L)
              y[(b * Cout + co) * Lout + t] += wv[(co * cg + c) * K + k] * xv[(b * Cin + ci) * L + i];
          }
  return y;
}

TEST(Conv1d, ForwardRandomShapesMatchNaiveLoop) {
  Generator gen(90);
  auto pick = [&](int64_t lo, int64_t hi) { return lo + int64_t(gen.next_below(uint64_t(hi - lo + 1))); };
  int tested = 0;
  for (int i = 0; i < 60; ++i) {
    const int64_t groups = pick(1, 3), depthwise = pick(0, 1);
    const int64_t Cin = groups * (depthwise ? 1 : pick(1, 3)), Cout = depthwise ? Cin : groups * pick(1, 3);
    const Conv1dParams p{pick(1, 3), pick(0, 4), pick(0, 4), pick(1, 2), groups};
    const int64_t B = pick(1, 2), L = pick(1, 40), K = pick(1, 7);
    if (L + p.padding_left + p.padding_right < p.dilation * (K - 1) + 1) continue;
    const DType dt = i % 2 ? DType::f32 : DType::f64;
    Tensor x = randn({B, Cin, L}, dt, gen), w = randn({Cout, Cin / groups, K}, dt, gen);
    Tensor y = conv1d(x, w, Tensor(), p);
    const int64_t Lout = conv1d_output_length(L, K, p);
    ASSERT_EQ(y.shape(), (Shape{B, Cout, Lout}));
    EXPECT_TRUE(all_close(y, from_doubles(naive_conv1d(x, w, p, Lout), y.shape(), dt), 1e-5, 1e-5))
        << "x " << shape_str(x.shape()) << " w " << shape_str(w.shape()) << " stride " << p.stride << " pad "
        << p.padding_left << "/" << p.padding_right << " dilation " << p.dilation;
    ++tested;
  }
  EXPECT_GT(tested, 40);
}

TEST(Conv1d, CausalEqualsSymmetricPaddingThenTruncate) {
  // Mamba: conv1d(x, padding=K-1)[..., :L] == left pad K-1, right pad 0.
  Generator gen(91);
  Tensor x = randn({2, 6, 17}, DType::f64, gen), w = randn({6, 1, 4}, DType::f64, gen), b = randn({6}, DType::f64, gen);
  Tensor full = conv1d(x, w, b, conv1d_params(1, 3, 1, 6));
  Tensor causal = conv1d(x, w, b, {.padding_left = 3, .padding_right = 0, .groups = 6});
  EXPECT_EQ(full.shape(), (Shape{2, 6, 20}));
  EXPECT_TRUE(all_close(causal, full.slice(2, 0, 17).contiguous(), 1e-12, 1e-12));
  // Output t depends only on inputs <= t: changing the last sample changes only the last output.
  Tensor x2 = x.clone();
  strided::fill(x2.slice(2, 16, 17), 5.0);
  Tensor causal2 = conv1d(x2, w, b, {.padding_left = 3, .padding_right = 0, .groups = 6});
  EXPECT_TRUE(all_close(causal2.slice(2, 0, 16).contiguous(), causal.slice(2, 0, 16).contiguous(), 0, 0));
}

TEST(Conv1d, NoTapeWithoutGradAndStemLengths) {
  Tensor x = zeros({1, 1, 16000}), w = zeros({4, 1, 10});
  Tensor y = conv1d(x, w, Tensor(), {.stride = 5});
  EXPECT_FALSE(y.requires_grad());
  // fairseq: floor((L - k) / s) + 1 per layer; 1 s of 16 kHz audio -> 49 frames after the 7-layer stem.
  int64_t L = 16000;
  for (auto [k, s] : std::vector<std::pair<int64_t, int64_t>>{{10, 5}, {3, 2}, {3, 2}, {3, 2}, {3, 2}, {2, 2}, {2, 2}})
    L = conv1d_output_length(L, k, {.stride = s});
  EXPECT_EQ(L, 49);
  EXPECT_EQ(y.size(2), 3199);
}

// ----------------------------------------------------------------------------------------------------- errors

TEST(Conv1d, ErrorsNameTheProblem) {
  Tensor x = zeros({1, 4, 10}), w = zeros({2, 4, 3});
  EXPECT_TRUE(throws_with([&] { conv1d(x, zeros({2, 3, 3})); }, "conv1d: channel mismatch: x (1, 4, 10) has 4"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv1d(x, zeros({3, 2, 3}), Tensor(), {.groups = 3});
      },
      "conv1d: groups 3 does not divide the input channels 4"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv1d(x, zeros({3, 2, 3}), Tensor(), {.groups = 2});
      },
      "groups 2 does not divide the output channels 3"));
  EXPECT_TRUE(throws_with(
      [] {
        conv1d(zeros({1, 1, 3}), zeros({4, 1, 10}), Tensor(), {.stride = 5});
      },
      "conv1d: input length 3 (after padding) is shorter than the effective kernel 10"));
  EXPECT_TRUE(throws_with(
      [] {
        conv1d(zeros({1, 1, 6}), zeros({4, 1, 3}), Tensor(), {.dilation = 3});
      },
      "input length 6 (after padding) is shorter than the effective kernel 7"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv1d(zeros({4, 10}), w);
      },
      "conv1d: expected x of rank 3 (B, Cin, L), got shape (4, 10)"));
  EXPECT_TRUE(throws_with([&] { conv1d(x, zeros({2, 4})); }, "conv1d: expected w of rank 3"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv1d(x, zeros({2, 4, 3}, DType::f64));
      },
      "conv1d: dtype mismatch: x is float32 but w is float64"));
  EXPECT_TRUE(throws_with([&] { conv1d(x, w, zeros({2}, DType::f64)); }, "but bias is float64"));
  EXPECT_TRUE(throws_with([&] { conv1d(x, w, zeros({3})); }, "bias must have shape (2,)"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv1d(zeros({1, 4, 10}, DType::i32), zeros({2, 4, 3}, DType::i32));
      },
      "expected a float32 or float64 x, got int32"));
  EXPECT_TRUE(throws_with([&] { conv1d(x, w, Tensor(), {.stride = 0}); }, "need stride >= 1"));
  EXPECT_TRUE(throws_with([&] { conv1d(x, w, Tensor(), {.padding_left = -1}); }, "padding >= 0"));
}

TEST(Conv2d, ErrorsNameTheProblem) {
  Tensor x = zeros({1, 2, 5, 5});
  EXPECT_TRUE(throws_with([&] { conv2d(x, zeros({3, 1, 3, 3})); }, "conv2d: channel mismatch: x (1, 2, 5, 5) has 2"));
  EXPECT_TRUE(throws_with([&] { conv2d(zeros({2, 5, 5}), zeros({3, 2, 3, 3})); }, "conv2d: expected x of rank 4"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv2d(x, zeros({3, 2, 6, 3}));
      },
      "conv2d: input size (5, 5) (after padding) is smaller than the effective kernel (6, 3)"));
  EXPECT_TRUE(throws_with([&] { conv2d(x, zeros({3, 2, 3, 3}, DType::f64)); }, "conv2d: dtype mismatch"));
  EXPECT_TRUE(throws_with([&] { conv2d(x, zeros({3, 2, 3, 3}), zeros({2})); }, "bias must have shape (3,)"));
}

TEST(WeightNorm, ErrorsNameTheProblem) {
  Tensor v = zeros({4, 3, 5});
  EXPECT_TRUE(throws_with(
      [&] {
        weight_norm(v, zeros({1, 1, 4}), 2);
      },
      "weight_norm: g must have shape (1, 1, 5) for v (4, 3, 5) and dim 2, got (1, 1, 4)"));
  EXPECT_TRUE(throws_with([&] { weight_norm(v, zeros({5}), 2); }, "g must have shape (1, 1, 5)"));
  EXPECT_TRUE(throws_with(
      [&] {
        weight_norm(v, zeros({1, 1, 5}, DType::f64), 2);
      },
      "weight_norm: dtype mismatch: v is float32 but g is float64"));
  EXPECT_TRUE(throws_with([&] { weight_norm(v, zeros({1, 1, 5}), 3); }, "weight_norm: dim 3 out of range"));
}

}  // namespace
}  // namespace hm::test
