// hm::attention: forward against an explicit formula, float64 gradient checks (padding, causal, odd T, Tq != Tk,
// dropout with a fixed seed), dropout statistics and determinism, fully masked rows, errors, and parity with the
// PyTorch fixture from tools/reference/fixtures_attention.py.
#include <cmath>
#include <limits>

#include "cpu/parallel.h"
#include "engine/npy.h"
#include "ops/attention.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

// Selects one attention variant for a scope, restoring the previous selection afterwards.
class AttentionVariant {
 public:
  explicit AttentionVariant(const std::string& v) : previous_(attention_table().selected()) {
    set_kernel_overrides("attention=" + v);
  }
  ~AttentionVariant() { set_kernel_overrides("attention=" + previous_); }
  AttentionVariant(const AttentionVariant&) = delete;
  AttentionVariant& operator=(const AttentionVariant&) = delete;

 private:
  std::string previous_;
};

Tensor padding_mask(int64_t B, int64_t Tk, const std::vector<std::pair<int64_t, int64_t>>& padded) {
  Tensor m = zeros({B, Tk}, DType::u8);
  for (const auto& [b, j] : padded) m.data<uint8_t>()[b * Tk + j] = 1;
  return m;
}

// The textbook formula in double, written independently of the kernels (no dropout):
// out_i = sum_j softmax_j(scale q_i.k_j + mask_ij) v_j, rows with no visible key = 0.
std::vector<double> explicit_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                       bool causal) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), Dh = q.size(3);
  const std::vector<double> Q = q.to_vector<double>(), K = k.to_vector<double>(), V = v.to_vector<double>();
  const std::vector<double> M = mask.defined() ? mask.to_vector<double>() : std::vector<double>(size_t(B * Tk), 0);
  std::vector<double> out(size_t(B * H * Tq * Dh), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t bh = b * H + h;
        std::vector<double> w(size_t(Tk), 0.0);
        double total = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          if (M[size_t(b * Tk + j)] != 0 || (causal && j > i)) continue;
          double s = 0;
          for (int64_t c = 0; c < Dh; ++c) s += Q[size_t((bh * Tq + i) * Dh + c)] * K[size_t((bh * Tk + j) * Dh + c)];
          w[size_t(j)] = std::exp(s / std::sqrt(double(Dh)));
          total += w[size_t(j)];
        }
        if (total == 0) continue;
        for (int64_t j = 0; j < Tk; ++j)
          for (int64_t c = 0; c < Dh; ++c)
            out[size_t((bh * Tq + i) * Dh + c)] += w[size_t(j)] / total * V[size_t((bh * Tk + j) * Dh + c)];
      }
  return out;
}

TEST(Attention, ForwardMatchesExplicitFormulaOnRandomShapes) {
  struct Case {
    int64_t B, H, Tq, Tk, Dh;
    bool causal, mask;
  };
  const std::vector<Case> cases = {{1, 1, 1, 1, 1, false, false}, {2, 3, 5, 5, 4, true, false},
                                   {1, 2, 7, 3, 5, false, true},  {3, 1, 4, 9, 17, true, true},
                                   {2, 2, 33, 21, 8, true, true}, {1, 1, 1, 40, 3, false, true}};
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    uint64_t seed = 10;
    for (const Case& c : cases) {
      SCOPED_TRACE(variant + " case Tq=" + std::to_string(c.Tq) + " Tk=" + std::to_string(c.Tk));
      for (DType dt : {DType::f32, DType::f64}) {
        const Tensor q = randn_param({c.B, c.H, c.Tq, c.Dh}, seed++, dt).detach();
        const Tensor k = randn_param({c.B, c.H, c.Tk, c.Dh}, seed++, dt).detach();
        const Tensor v = randn_param({c.B, c.H, c.Tk, c.Dh}, seed++, dt).detach();
        const Tensor m = c.mask ? padding_mask(c.B, c.Tk, {{0, c.Tk - 1}, {c.B - 1, 0}}) : Tensor();
        const Tensor out = attention(q, k, v, m, c.causal);
        ASSERT_EQ(out.shape(), (Shape{c.B, c.H, c.Tq, c.Dh}));
        ASSERT_EQ(out.dtype(), dt);
        const Tensor want = from_doubles(explicit_attention(q, k, v, m, c.causal), out.shape(), DType::f64);
        const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
        EXPECT_TRUE(all_close(out, want, tol, tol * 10));
      }
    }
  }
}

TEST(Attention, GradcheckPlainAndScale) {
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    const Tensor q = randn_param({2, 2, 3, 4}, 1), k = randn_param({2, 2, 3, 4}, 2), v = randn_param({2, 2, 3, 4}, 3);
    expect_gradcheck("attention", [](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2]); }, {q, k, v});
    expect_gradcheck("attention",
                     [](const std::vector<Tensor>& x) {
                       Generator unused(0);
                       return attention(x[0], x[1], x[2], Tensor(), false, 0.0, false, unused, 0.7);
                     },
                     {q, k, v});
  }
}

TEST(Attention, GradcheckKeyPaddingCausalOddLengths) {
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    const Tensor q = randn_param({2, 2, 5, 3}, 4), k = randn_param({2, 2, 5, 3}, 5), v = randn_param({2, 2, 5, 3}, 6);
    const Tensor mask = padding_mask(2, 5, {{0, 4}, {1, 1}, {1, 2}});
    expect_gradcheck("attention", [&](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], mask); },
                     {q, k, v});
    expect_gradcheck("attention", [&](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], mask, true); },
                     {q, k, v});
    // Rows longer than two float64 vectors plus a tail, so the SIMD row kernels are exercised too.
    const Tensor q2 = randn_param({1, 2, 9, 3}, 26), k2 = randn_param({1, 2, 21, 3}, 27),
                 v2 = randn_param({1, 2, 21, 3}, 28);
    const Tensor mask2 = padding_mask(1, 21, {{0, 2}, {0, 17}});
    expect_gradcheck("attention", [&](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], mask2); },
                     {q2, k2, v2});
  }
}

TEST(Attention, GradcheckCrossAttentionTqNeTkWithFullyMaskedRow) {
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    // Tq = 3 queries over Tk = 6 keys (and the reverse); batch 1 pads key 0, so with causal its row 0 is empty.
    const Tensor q = randn_param({2, 1, 3, 2}, 7), k = randn_param({2, 1, 6, 2}, 8), v = randn_param({2, 1, 6, 2}, 9);
    const Tensor mask = padding_mask(2, 6, {{1, 0}, {0, 5}});
    expect_gradcheck("attention", [&](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], mask, true); },
                     {q, k, v});
    const Tensor q2 = randn_param({1, 2, 6, 3}, 10), k2 = randn_param({1, 2, 3, 3}, 11),
                 v2 = randn_param({1, 2, 3, 3}, 12);
    expect_gradcheck("attention",
                     [&](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], Tensor(), true); },
                     {q2, k2, v2});
  }
}

TEST(Attention, GradcheckDropoutFixedSeed) {
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    const Tensor q = randn_param({2, 2, 5, 3}, 13), k = randn_param({2, 2, 19, 3}, 14),
                 v = randn_param({2, 2, 19, 3}, 15);
    const Tensor mask = padding_mask(2, 19, {{1, 6}, {0, 18}});
    // A fresh generator with the same seed per call: every evaluation sees the same dropout mask.
    expect_gradcheck("attention",
                     [&](const std::vector<Tensor>& x) {
                       Generator gen(77);
                       gen.reserve(5);  // a non-zero offset, as mid-training
                       return attention(x[0], x[1], x[2], mask, false, 0.3, true, gen);
                     },
                     {q, k, v});
  }
}

TEST(Attention, DropoutDropsAtRateAndIsDeterministic) {
  // With Tk = 1 every probability is 1, so out = keep / (1 - p) * v exactly: the dropped fraction is visible.
  const double p = 0.25;
  const Tensor q = randn_param({4, 5, 200, 2}, 16, DType::f32).detach();
  const Tensor k = randn_param({4, 5, 1, 2}, 17, DType::f32).detach();
  const Tensor v = ones({4, 5, 1, 2});
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    Generator gen(3);
    const Tensor out = attention(q, k, v, Tensor(), false, p, true, gen);
    EXPECT_EQ(gen.offset(), uint64_t((4 * 5 * 200 * 1 + 3) / 4)) << "counters reserved for the mask";
    const std::vector<float> o = out.to_vector<float>();
    int64_t dropped = 0;
    for (size_t i = 0; i < o.size(); i += 2) {
      ASSERT_EQ(o[i], o[i + 1]);  // one keep decision per (row, key), shared by the Dh outputs
      ASSERT_TRUE(o[i] == 0.0f || std::abs(o[i] - float(1 / (1 - p))) < 1e-6) << o[i];
      dropped += o[i] == 0.0f;
    }
    const double rate = double(dropped) / double(o.size() / 2);
    EXPECT_NEAR(rate, p, 0.03);  // 4000 Bernoulli(0.25) draws: sd ~0.007
    // Not training, or p = 0: no dropout and no counters used.
    Generator idle(3);
    const Tensor eval = attention(q, k, v, Tensor(), false, p, false, idle);
    EXPECT_EQ(idle.offset(), 0u);
    EXPECT_TRUE(all_close(eval, ones(eval.shape()), 1e-6, 0));
  }
  // Same (seed, offset) -> bit-identical for any thread count; the next call (new offset) draws a new mask.
  const Tensor kk = randn_param({4, 5, 37, 2}, 18, DType::f32).detach(),
               vv = randn_param({4, 5, 37, 2}, 19, DType::f32).detach();
  const int saved_threads = cpu::num_threads();
  Generator g1(9), g2(9);
  cpu::set_num_threads(1);
  const Tensor a = attention(q, kk, vv, Tensor(), false, 0.5, true, g1);
  cpu::set_num_threads(2);
  const Tensor b = attention(q, kk, vv, Tensor(), false, 0.5, true, g2);
  const Tensor c = attention(q, kk, vv, Tensor(), false, 0.5, true, g2);
  cpu::set_num_threads(saved_threads);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(b.to_vector<float>(), c.to_vector<float>());
}

TEST(Attention, FullyMaskedRowsGiveZerosNotNaN) {
  Tensor q = randn_param({2, 2, 3, 4}, 20, DType::f32), k = randn_param({2, 2, 5, 4}, 21, DType::f32),
         v = randn_param({2, 2, 5, 4}, 22, DType::f32);
  const Tensor mask = padding_mask(2, 5, {{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}});  // batch 1: every key padded
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    for (Tensor* t : {&q, &k, &v}) t->zero_grad();
    const Tensor out = attention(q, k, v, mask);
    out.backward(ones(out.shape()));
    const std::vector<float> o = out.to_vector<float>(), dq = q.grad().to_vector<float>(),
                             dk = k.grad().to_vector<float>(), dv = v.grad().to_vector<float>();
    for (size_t i = 0; i < o.size(); ++i) {
      ASSERT_TRUE(std::isfinite(o[i]) && std::isfinite(dq[i]));
      if (i >= o.size() / 2) {
        EXPECT_TRUE(o[i] == 0.0f && dq[i] == 0.0f) << i;
      }
    }
    for (size_t i = 0; i < dk.size(); ++i) {
      ASSERT_TRUE(std::isfinite(dk[i]) && std::isfinite(dv[i]));
      if (i >= dk.size() / 2) {
        EXPECT_TRUE(dk[i] == 0.0f && dv[i] == 0.0f) << i;
      }
    }
    EXPECT_NE(o[0], 0.0f);
  }
}

TEST(Attention, NonContiguousInputsAndGradientThroughViews) {
  // q, k, v as (B, T, H, Dh) projections transposed to (B, H, T, Dh): the usual layout after a linear layer.
  const Tensor qt = randn_param({2, 4, 3, 2}, 23), kt = randn_param({2, 5, 3, 2}, 24),
               vt = randn_param({2, 5, 3, 2}, 25);
  expect_gradcheck("attention",
                   [](const std::vector<Tensor>& x) {
                     return attention(x[0].transpose(1, 2), x[1].transpose(1, 2), x[2].transpose(1, 2), Tensor(), true);
                   },
                   {qt, kt, vt});
}

TEST(Attention, RejectsBadShapesAndDtypes) {
  const Tensor q = zeros({2, 3, 4, 5}), k = zeros({2, 3, 6, 5}), v = zeros({2, 3, 6, 5});
  EXPECT_TRUE(throws_with([&] { attention(zeros({3, 4, 5}), k, v); }, "must be 4-D"));
  EXPECT_TRUE(throws_with([&] { attention(q, k, zeros({2, 3, 6, 5}, DType::f64)); }, "share a dtype"));
  EXPECT_TRUE(
      throws_with([&] { attention(q.to(DType::i32), k.to(DType::i32), v.to(DType::i32)); }, "float32 or float64"));
  EXPECT_TRUE(throws_with([&] { attention(q, k, zeros({2, 3, 7, 5})); }, "k and v must have the same shape"));
  EXPECT_TRUE(throws_with([&] { attention(q, zeros({2, 2, 6, 5}), zeros({2, 2, 6, 5})); }, "disagree on B, H or Dh"));
  EXPECT_TRUE(throws_with([&] { attention(q, zeros({2, 3, 6, 4}), zeros({2, 3, 6, 4})); }, "(2, 3, 4, 5)"));
  EXPECT_TRUE(throws_with([&] { attention(q, zeros({2, 3, 0, 5}), zeros({2, 3, 0, 5})); }, "at least one key"));
  EXPECT_TRUE(throws_with([&] { attention(q, k, v, zeros({2, 6})); }, "must be u8"));
  EXPECT_TRUE(throws_with([&] { attention(q, k, v, zeros({2, 5}, DType::u8)); }, "(B, Tk) = (2, 6), got (2, 5)"));
  EXPECT_TRUE(throws_with([&] { attention(q, k, v, Tensor(), false, 1.0, true); }, "dropout_p must be in [0, 1)"));
  EXPECT_TRUE(throws_with([&] { attention(q, k, v, Tensor(), false, -0.1); }, "got -0.1"));
  EXPECT_TRUE(throws_with([&] { attention(Tensor(), k, v); }, "must be defined"));
}

Tensor fixture(const std::string& name) {
  return load_npy(std::string(HM_SOURCE_DIR) + "/tests/fixtures/attention/" + name + ".npy");
}

TEST(Attention, MatchesPyTorchFixture) {
  // tools/reference/fixtures_attention.py: torch 1.13 explicit softmax(q k^T / sqrt(Dh) + mask) v with autograd.
  const std::vector<std::pair<std::string, bool>> cases = {
      {"plain", false}, {"causal_padded", true}, {"cross_padded", false}, {"long_causal", true}};
  for (const std::string& variant : attention_table().variants()) {
    AttentionVariant use(variant);
    for (const auto& [name, causal] : cases) {
      SCOPED_TRACE(variant + " " + name);
      for (DType dt : {DType::f64, DType::f32}) {
        const double tol = dt == DType::f64 ? 1e-10 : 2e-5;
        Tensor q = fixture(name + "_q").to(dt), k = fixture(name + "_k").to(dt), v = fixture(name + "_v").to(dt);
        q.requires_grad_(), k.requires_grad_(), v.requires_grad_();
        const Tensor out = attention(q, k, v, fixture(name + "_mask"), causal);
        out.backward(fixture(name + "_dout").to(dt));
        EXPECT_TRUE(all_close(out, fixture(name + "_out"), tol, tol));
        EXPECT_TRUE(all_close(q.grad(), fixture(name + "_dq"), tol, tol));
        EXPECT_TRUE(all_close(k.grad(), fixture(name + "_dk"), tol, tol));
        EXPECT_TRUE(all_close(v.grad(), fixture(name + "_dv"), tol, tol));
      }
    }
  }
}

}  // namespace
}  // namespace hm::test
