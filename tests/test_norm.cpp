// Norm-family ops (layer_norm, group_norm, batch_norm) and glu / cosine_similarity: torch 1.13 fixtures in f64 and
// f32 (tools/reference/fixtures_normloss.py), float64 gradient checks for every input, random shapes incl. size 1
// and odd sizes, and error messages.
#include <cmath>

#include "ops/ops.h"
#include "tests/normloss_fixtures.h"

namespace hm::test {
namespace {

const DType kDtypes[] = {DType::f64, DType::f32};

// Backprop the fixture's upstream gradient and compare y and the named input gradients.
void check_against_fixture(const std::string& c, const Tensor& y,
                           const std::vector<std::pair<std::string, Tensor>>& grads, DType dt) {
  SCOPED_TRACE(c + " " + dtype_name(dt));
  const Tol tol = tol_for(dt);
  EXPECT_TRUE(matches(y, fixture(c, "y"), tol.atol, tol.rtol));
  y.backward(fixture(c, "gy").to(dt));
  for (const auto& [name, t] : grads) {
    SCOPED_TRACE("gradient g" + name);
    ASSERT_TRUE(t.grad().defined());
    EXPECT_TRUE(matches(t.grad(), fixture(c, "g" + name), tol.atol, tol.rtol));
  }
}

// ---- layer_norm ----------------------------------------------------------------------------------------------
TEST(Norm, layer_norm_MatchesTorchFixtures) {
  for (DType dt : kDtypes) {
    Tensor x = fixture_param("layer_norm_affine", "x", dt), w = fixture_param("layer_norm_affine", "w", dt),
           b = fixture_param("layer_norm_affine", "b", dt);
    check_against_fixture("layer_norm_affine", layer_norm(x, w, b), {{"x", x}, {"w", w}, {"b", b}}, dt);
    Tensor xp = fixture_param("layer_norm_plain", "x", dt);
    check_against_fixture("layer_norm_plain", layer_norm(xp), {{"x", xp}}, dt);
  }
}

TEST(Norm, layer_norm_RandomShapesMatchDirectFormula) {
  for (const Shape& s : {Shape{1, 1}, Shape{3, 1}, Shape{1, 7}, Shape{2, 3, 17}, Shape{5, 64}, Shape{130}}) {
    SCOPED_TRACE(shape_str(s));
    Generator gen(7);
    Tensor x = randn(s, DType::f32, gen), w = randn({s.back()}, DType::f32, gen),
           b = randn({s.back()}, DType::f32, gen);
    Tensor y = layer_norm(x, w, b, 1e-5);
    const int64_t C = s.back(), rows = x.numel() / C;
    const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
    std::vector<double> ref(xv.size());
    for (int64_t r = 0; r < rows; ++r) {
      double m = 0, v = 0;
      for (int64_t c = 0; c < C; ++c) m += xv[size_t(r * C + c)] / double(C);
      for (int64_t c = 0; c < C; ++c) v += std::pow(xv[size_t(r * C + c)] - m, 2) / double(C);
      for (int64_t c = 0; c < C; ++c)
        ref[size_t(r * C + c)] = (xv[size_t(r * C + c)] - m) / std::sqrt(v + 1e-5) * wv[size_t(c)] + bv[size_t(c)];
    }
    EXPECT_TRUE(all_close(y, from_doubles(ref, s), 1e-4, 1e-4));
  }
}

TEST(Norm, layer_norm_Gradcheck) {
  Tensor x = randn_param({3, 5}, 11), w = randn_param({5}, 12), b = randn_param({5}, 13);
  expect_gradcheck("layer_norm", [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); },
                   {x, w, b});
  // Odd width, several leading dims, no affine; and a non-contiguous input (through a transpose view).
  Tensor x2 = randn_param({2, 3, 9}, 14);
  expect_gradcheck("layer_norm", [](const std::vector<Tensor>& in) { return layer_norm(in[0]); }, {x2});
  Tensor x3 = randn_param({7, 4}, 15), w3 = randn_param({7}, 16);
  expect_gradcheck("layer_norm", [](const std::vector<Tensor>& in) { return layer_norm(in[0].transpose(0, 1), in[1]); },
                   {x3, w3});
}

TEST(Norm, layer_norm_EmptyBatchGivesZeroParamGrads) {
  Tensor x = randn_param({0, 4}, 17), w = randn_param({4}, 18), b = randn_param({4}, 19);
  Tensor y = layer_norm(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
  y.backward(zeros({0, 4}, DType::f64));
  EXPECT_EQ(w.grad().to_vector<double>(), std::vector<double>(4, 0.0));
  EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(4, 0.0));
}

TEST(Norm, layer_norm_Errors) {
  Tensor x = zeros({2, 4});
  EXPECT_TRUE(throws_with([&] { layer_norm(x, zeros({3})); }, "weight must have shape (4,)"));
  EXPECT_TRUE(throws_with([&] { layer_norm(x, Tensor(), zeros({4}, DType::f64)); }, "bias has dtype float64"));
  EXPECT_TRUE(throws_with([&] { layer_norm(zeros({2, 4}, DType::i64)); }, "expected a float32 or float64"));
  EXPECT_TRUE(throws_with([&] { layer_norm(zeros({2, 0})); }, "non-empty last dim"));
}

// ---- group_norm ----------------------------------------------------------------------------------------------
TEST(Norm, group_norm_MatchesTorchFixtures) {
  for (DType dt : kDtypes)
    for (const char* c : {"group_norm_g3", "group_norm_hubert", "group_norm_4d"}) {
      Tensor x = fixture_param(c, "x", dt), w = fixture_param(c, "w", dt), b = fixture_param(c, "b", dt);
      const int64_t groups = int64_t(fixture(c, "groups").item());
      check_against_fixture(c, group_norm(x, groups, w, b), {{"x", x}, {"w", w}, {"b", b}}, dt);
    }
}

TEST(Norm, group_norm_Gradcheck) {
  Tensor x = randn_param({2, 6, 5}, 21), w = randn_param({6}, 22), b = randn_param({6}, 23);
  for (int64_t g : {1, 2, 6}) {
    SCOPED_TRACE(g);
    expect_gradcheck("group_norm", [g](const std::vector<Tensor>& in) { return group_norm(in[0], g, in[1], in[2]); },
                     {x, w, b});
  }
  Tensor x2 = randn_param({1, 3, 2, 3}, 24);  // 4-D, batch 1, no affine
  expect_gradcheck("group_norm", [](const std::vector<Tensor>& in) { return group_norm(in[0], 3); }, {x2});
}

TEST(Norm, group_norm_Errors) {
  EXPECT_TRUE(throws_with([] { group_norm(zeros({2, 6, 4}), 4); }, "6 channels"));
  EXPECT_TRUE(throws_with([] { group_norm(zeros({6}), 2); }, "(B, C, *)"));
  EXPECT_TRUE(throws_with([] { group_norm(zeros({2, 6, 4}), 3, zeros({3})); }, "weight must have shape (6,)"));
}

// ---- batch_norm ----------------------------------------------------------------------------------------------
void batch_norm_fixture(const std::string& c, bool training, bool masked, DType dt) {
  Tensor x = fixture_param(c, "x", dt), w = fixture_param(c, "w", dt), b = fixture_param(c, "b", dt);
  Tensor rm = fixture(c, "rm0").to(dt).clone(), rv = fixture(c, "rv0").to(dt).clone();
  Tensor mask = masked ? fixture(c, "mask") : Tensor();
  Tensor y = batch_norm(x, w, b, rm, rv, training, 0.1, 1e-5, mask);
  const Tol tol = tol_for(dt);
  EXPECT_TRUE(matches(rm, fixture(c, "rm1"), tol.atol, tol.rtol)) << c << " running_mean";
  EXPECT_TRUE(matches(rv, fixture(c, "rv1"), tol.atol, tol.rtol)) << c << " running_var";
  check_against_fixture(c, y, {{"x", x}, {"w", w}, {"b", b}}, dt);
}

TEST(Norm, batch_norm_MatchesTorchFixtures) {
  for (DType dt : kDtypes) {
    batch_norm_fixture("batch_norm_train", true, false, dt);
    batch_norm_fixture("batch_norm_train2d", true, false, dt);
    batch_norm_fixture("batch_norm_eval", false, false, dt);
    batch_norm_fixture("batch_norm_masked", true, true, dt);  // hand-written masked statistics in torch
  }
}

TEST(Norm, batch_norm_MaskedEqualsUnpaddedStatistics) {
  // Padding must not change the statistics: a masked batch gives the same outputs on the valid frames as the batch
  // with the padded frames cut off (here: element 1 has 2 valid frames of 5).
  Generator gen(5);
  Tensor x = randn({2, 3, 5}, DType::f64, gen);
  Tensor mask = from_vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, {2, 5});
  Tensor rm = zeros({3}, DType::f64), rv = ones({3}, DType::f64);
  Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5, mask);
  // Reference: the 7 valid frames as one (1, 3, 7) batch.
  const std::vector<double> xv = x.to_vector<double>();  // (2, 3, 5)
  std::vector<double> vv(21);                            // (1, 3, 7)
  for (size_t c = 0; c < 3; ++c)
    for (size_t l = 0; l < 7; ++l) vv[c * 7 + l] = l < 5 ? xv[c * 5 + l] : xv[(3 + c) * 5 + l - 5];
  Tensor valid = from_vector<double>(vv, {1, 3, 7});
  Tensor rm2 = zeros({3}, DType::f64), rv2 = ones({3}, DType::f64);
  Tensor y2 = batch_norm(valid, Tensor(), Tensor(), rm2, rv2, true);
  EXPECT_TRUE(all_close(y.slice(0, 0, 1), y2.slice(2, 0, 5), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(y.slice(0, 1, 2).slice(2, 0, 2), y2.slice(2, 5, 7), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(rm, rm2, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(rv, rv2, 1e-12, 1e-12));
}

TEST(Norm, batch_norm_Gradcheck) {
  Tensor x = randn_param({3, 4, 5}, 31), w = randn_param({4}, 32), b = randn_param({4}, 33);
  expect_gradcheck("batch_norm",
                   [](const std::vector<Tensor>& in) {
                     return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), /*training=*/true);
                   },
                   {x, w, b});
  Tensor mask = from_vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1}, {3, 5});
  expect_gradcheck("batch_norm",
                   [mask](const std::vector<Tensor>& in) {
                     return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1, 1e-5, mask);
                   },
                   {x, w, b});
  Tensor rm = randn_param({4}, 34).detach(), rv = ones({4}, DType::f64);
  expect_gradcheck("batch_norm",
                   [rm, rv](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false); },
                   {x, w, b});
  Tensor x2 = randn_param({5, 3}, 35);  // 2-D input, no affine
  expect_gradcheck(
      "batch_norm",
      [](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
      {x2});
}

TEST(Norm, batch_norm_Errors) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_TRUE(throws_with(
      [] {
        batch_norm(zeros({1, 3, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true);
      },
      "more than 1 value per channel"));
  EXPECT_TRUE(throws_with(
      [&] {
        batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5,
                   from_vector<uint8_t>({0, 1, 1, 1, 1, 1, 1, 1}, {2, 4}));
      },
      "1 unpadded frames"));
  EXPECT_TRUE(throws_with([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); }, "eval mode needs"));
  EXPECT_TRUE(throws_with([&] { batch_norm(x, Tensor(), Tensor(), zeros({4}), Tensor(), true); },
                          "running_mean must have shape (3,)"));
  EXPECT_TRUE(throws_with(
      [&] {
        batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, zeros({2, 3}, DType::u8));
      },
      "padding mask must be u8 of shape (2, 4)"));
  EXPECT_TRUE(
      throws_with([] { batch_norm(zeros({2}), Tensor(), Tensor(), Tensor(), Tensor(), true); }, "(B, C) or (B, C, L)"));
}

// ---- glu -----------------------------------------------------------------------------------------------------
TEST(Glu, glu_MatchesTorchFixtures) {
  for (DType dt : kDtypes)
    for (const char* c : {"glu_dim1", "glu_last"}) {
      Tensor x = fixture_param(c, "x", dt);
      check_against_fixture(c, glu(x, int64_t(fixture(c, "dim").item())), {{"x", x}}, dt);
    }
}

TEST(Glu, glu_GradcheckAndShapes) {
  Tensor x = randn_param({3, 4, 5}, 41);
  expect_gradcheck("glu", [](const std::vector<Tensor>& in) { return glu(in[0], 1); }, {x});
  Tensor x1 = randn_param({2}, 42);  // halves of size 1
  expect_gradcheck("glu", [](const std::vector<Tensor>& in) { return glu(in[0]); }, {x1});
  EXPECT_EQ(glu(zeros({3, 4, 5}), 1).shape(), (Shape{3, 2, 5}));
  EXPECT_EQ(glu(zeros({1, 6})).shape(), (Shape{1, 3}));
  EXPECT_TRUE(throws_with([] { glu(zeros({3, 5}), 1); }, "halving dimension must be even"));
  EXPECT_TRUE(throws_with([] { glu(zeros({3, 4}), 2); }, "out of range"));
}

// ---- cosine_similarity ---------------------------------------------------------------------------------------
TEST(Cosine, cosine_similarity_MatchesTorchFixtures) {
  for (DType dt : kDtypes)
    for (const char* c :
         {"cosine_hubert", "cosine_dim1", "cosine_rank", "cosine_bcast_dim", "cosine_tiny", "cosine_clamp"}) {
      Tensor a = fixture_param(c, "a", dt), b = fixture_param(c, "b", dt);
      check_against_fixture(c, cosine_similarity(a, b, int64_t(fixture(c, "dim").item())), {{"a", a}, {"b", b}}, dt);
    }
}

TEST(Cosine, cosine_similarity_Gradcheck) {
  Tensor a = randn_param({4, 1, 6}, 51), b = randn_param({1, 3, 6}, 52);
  expect_gradcheck("cosine_similarity",
                   [](const std::vector<Tensor>& in) { return cosine_similarity(in[0], in[1], -1); }, {a, b});
  Tensor c = randn_param({5}, 53), d = randn_param({3, 5}, 54);
  expect_gradcheck("cosine_similarity",
                   [](const std::vector<Tensor>& in) { return cosine_similarity(in[0], in[1], -1); }, {c, d});
  Tensor e = randn_param({3, 1}, 55), f = randn_param({3, 4}, 56);  // broadcast along the reduced dim
  expect_gradcheck("cosine_similarity",
                   [](const std::vector<Tensor>& in) { return cosine_similarity(in[0], in[1], 1); }, {e, f});
  Tensor a2 = randn_param({1, 3, 6}, 59), b2 = randn_param({4, 1, 6}, 60);  // outer layout with b varying slowest
  expect_gradcheck("cosine_similarity",
                   [](const std::vector<Tensor>& in) { return cosine_similarity(in[0], in[1], -1); }, {a2, b2});
  Tensor g = randn_param({2, 3, 1}, 57), h = randn_param({2, 3, 1}, 58);  // D = 1
  expect_gradcheck("cosine_similarity",
                   [](const std::vector<Tensor>& in) { return cosine_similarity(in[0], in[1], 2); }, {g, h});
}

TEST(Cosine, cosine_similarity_HubertLogitsShapeAndErrors) {
  Generator gen(3);
  Tensor proj = randn({7, 1, 16}, DType::f32, gen), emb = randn({1, 5, 16}, DType::f32, gen);
  Tensor y = cosine_similarity(proj, emb, -1);
  EXPECT_EQ(y.shape(), (Shape{7, 5}));
  // Spot check one entry against the definition.
  const std::vector<float> p = proj.to_vector<float>(), e = emb.to_vector<float>();
  double dot = 0, np = 0, ne = 0;
  for (int k = 0; k < 16; ++k)
    dot += p[size_t(3 * 16 + k)] * e[size_t(2 * 16 + k)], np += p[size_t(3 * 16 + k)] * p[size_t(3 * 16 + k)],
        ne += e[size_t(2 * 16 + k)] * e[size_t(2 * 16 + k)];
  EXPECT_NEAR(y.select(0, 3).select(0, 2).item(), dot / std::sqrt(np * ne), 1e-5);
  // The GEMM path (every proj row against every embedding, either order) equals the per-pair path, which a
  // materialised (7, 5, 16) copy of proj forces; so do the gradients.
  for (bool swap : {false, true}) {
    SCOPED_TRACE(swap ? "embeddings first" : "proj first");
    Tensor p1 = proj.clone(), e1 = emb.clone(), p2 = proj.clone(), e2 = emb.clone();
    for (Tensor* t : {&p1, &e1, &p2, &e2}) t->requires_grad_(true);
    Tensor dense = p2.expand({7, 5, 16}).contiguous();
    Tensor fast = swap ? cosine_similarity(e1, p1, -1) : cosine_similarity(p1, e1, -1);
    Tensor slow = swap ? cosine_similarity(e2, dense, -1) : cosine_similarity(dense, e2, -1);
    EXPECT_TRUE(all_close(fast, slow, 1e-6, 1e-5));
    Tensor gy = randn({7, 5}, DType::f32, gen);
    fast.backward(gy);
    slow.backward(gy);
    EXPECT_TRUE(all_close(p1.grad(), p2.grad(), 1e-5, 1e-4));
    EXPECT_TRUE(all_close(e1.grad(), e2.grad(), 1e-5, 1e-4));
  }
  EXPECT_TRUE(throws_with([] { cosine_similarity(zeros({3, 4}), zeros({2, 4}), 1); }, "do not broadcast"));
  EXPECT_TRUE(throws_with([] { cosine_similarity(zeros({3, 4}), zeros({3, 4}, DType::f64), 1); }, "dtype mismatch"));
  EXPECT_TRUE(throws_with([] { cosine_similarity(zeros({3, 4}), zeros({3, 4}), 2); }, "out of range"));
}

}  // namespace
}  // namespace hm::test
