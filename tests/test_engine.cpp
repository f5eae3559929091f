// Engine tests: tensors, views, allocator, RNG, autograd tape mechanics and its error messages.
#include "engine/allocator.h"
#include "engine/strided.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(Engine, FactoriesShapesAndItem) {
  Tensor t = zeros({2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(full({}, 2.5).item(), 2.5);
  EXPECT_EQ(arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(throws_with([] { zeros({2, 3}).item(); }, "6 elements"));
  EXPECT_TRUE(throws_with([] { empty({2, -1}); }, "negative size"));
  EXPECT_TRUE(throws_with([] { zeros({2}).data<double>(); }, "float32"));
  EXPECT_TRUE(throws_with([] { Tensor().shape(); }, "undefined"));
}

TEST(Engine, ViewsShareStorageAndIndexCorrectly) {
  Tensor t = from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = t.transpose(0, 1);  // (3, 2)
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(t.slice(1, 1, 3).to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  EXPECT_EQ(t.slice(1, 0, 3, 2).to_vector<float>(), (std::vector<float>{0, 2, 3, 5}));
  EXPECT_EQ(t.flip({1}).to_vector<float>(), (std::vector<float>{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(t.flip({0, 1}).to_vector<float>(), (std::vector<float>{5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(t.select(0, 1).to_vector<float>(), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(t.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.reshape({6}).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor col = from_vector<float>({1, 2}, {2, 1});
  EXPECT_EQ(col.expand({2, 3}).to_vector<float>(), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(t.unsqueeze(1).squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_EQ(t.flatten().shape(), (Shape{6}));
  EXPECT_EQ(t.storage(), t.slice(0, 1, 2).storage());
  // Writes through a view are visible in the base.
  strided::fill(t.slice(1, 2, 3), 9.0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 1, 9, 3, 4, 9}));
}

TEST(Engine, ViewErrorsNameTheProblem) {
  Tensor t = zeros({2, 3});
  EXPECT_TRUE(throws_with([&] { t.reshape({4, 2}); }, "cannot reshape (2, 3)"));
  EXPECT_TRUE(throws_with([&] { t.transpose(0, 1).view({6}); }, "not contiguous"));
  EXPECT_TRUE(throws_with([&] { t.permute({0, 0}); }, "repeated"));
  EXPECT_TRUE(throws_with([&] { t.expand({4, 3}); }, "cannot expand"));
  EXPECT_TRUE(throws_with([&] { t.squeeze(0); }, "not 1"));
  EXPECT_TRUE(throws_with([&] { t.narrow(1, 2, 5); }, "out of range"));
  EXPECT_TRUE(throws_with([&] { t.size(3); }, "out of range"));
  EXPECT_TRUE(throws_with([] { scalar_tensor(1.0).size(0); }, "is a scalar"));
}

TEST(Engine, AllocatorAlignsCachesAndTracksPeak) {
  cpu_allocator::reset_peak();
  const auto before = cpu_allocator::stats();
  {
    Tensor a = empty({1000});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw_data()) % 64, 0u);
    const auto during = cpu_allocator::stats();
    EXPECT_GE(during.current_bytes, before.current_bytes + 4000);
    EXPECT_GE(during.peak_bytes, during.current_bytes);
  }
  const auto after_free = cpu_allocator::stats();
  EXPECT_EQ(after_free.current_bytes, before.current_bytes);
  const uint64_t os_before = after_free.os_allocations;
  { Tensor again = empty({1000}); }  // same size class: served from the cache
  EXPECT_EQ(cpu_allocator::stats().os_allocations, os_before);
}

TEST(Engine, PhiloxIsReproducibleAndThreadIndependent) {
  // Known-answer test from the Random123 distribution (philox4x32-10, counter 0, key 0).
  const auto r = philox4x32(0, 0, 0);
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
  Generator g1(42), g2(42);
  Tensor a = randn({100001}, DType::f32, g1);
  Tensor b = randn({100001}, DType::f32, g2);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_EQ(g1.offset(), 25001u);
  // Mean / variance sanity for the normal and uniform fills.
  double s = 0, s2 = 0;
  for (float v : a.to_vector<float>()) s += v, s2 += double(v) * v;
  EXPECT_NEAR(s / 100001, 0.0, 0.02);
  EXPECT_NEAR(s2 / 100001, 1.0, 0.02);
  Tensor u = uniform({1000}, -2, 3, DType::f64, g1);
  for (double v : u.to_vector<double>()) ASSERT_TRUE(v >= -2 && v < 3);
  for (int i = 0; i < 1000; ++i) ASSERT_LT(g1.next_below(7), 7u);
}

TEST(Engine, BackwardThroughViewsAccumulates) {
  Tensor x = randn_param({2, 3}, 1);
  // y = x^T flipped and sliced; gradient of sum(w*y) scatters back through every view.
  Tensor y = x.transpose(0, 1).flip({0}).slice(0, 0, 2);  // (2, 2)
  y.backward(ones({2, 2}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 1, 0, 1, 1}));
  // A second graph accumulates into .grad.
  x.expand({4, 2, 3}).backward(ones({4, 2, 3}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 5, 5, 4, 5, 5}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, BackwardErrors) {
  Tensor x = randn_param({3}, 2);
  Tensor y = x.unsqueeze(0).expand({2, 3});
  EXPECT_TRUE(throws_with([&] { y.backward(); }, "one-element"));
  EXPECT_TRUE(throws_with([&] { y.backward(ones({3}, DType::f64)); }, "does not match"));
  y.backward(ones({2, 3}, DType::f64));
  EXPECT_TRUE(throws_with([&] { y.backward(ones({2, 3}, DType::f64)); }, "second time"));
  Tensor z = x.unsqueeze(0).expand({2, 3});
  z.backward(ones({2, 3}, DType::f64), /*retain_graph=*/true);
  z.backward(ones({2, 3}, DType::f64));  // allowed once more
  EXPECT_TRUE(throws_with([] { zeros({1}).backward(); }, "does not require grad"));
  EXPECT_TRUE(throws_with([] { zeros({1}, DType::i64).requires_grad_(); }, "floating"));
  {
    NoGradGuard ng;
    EXPECT_FALSE(x.unsqueeze(0).requires_grad());
  }
  EXPECT_TRUE(x.unsqueeze(0).requires_grad());
  EXPECT_TRUE(throws_with([&] { x.unsqueeze(0).requires_grad_(); }, "only leaf"));
}

TEST(Engine, GradcheckViews) {
  Tensor x = randn_param({3, 4}, 3);
  expect_gradcheck("permute", [](const std::vector<Tensor>& in) { return in[0].permute({1, 0}); }, {x});
  expect_gradcheck("slice", [](const std::vector<Tensor>& in) { return in[0].slice(1, 1, 4, 2); }, {x});
  expect_gradcheck("flip", [](const std::vector<Tensor>& in) { return in[0].flip({0, 1}); }, {x});
  expect_gradcheck("expand", [](const std::vector<Tensor>& in) { return in[0].unsqueeze(1).expand({3, 2, 4}); },
                   {x});
  expect_gradcheck("reshape", [](const std::vector<Tensor>& in) { return in[0].transpose(0, 1).reshape({2, 6}); },
                   {x});
  expect_gradcheck("squeeze", [](const std::vector<Tensor>& in) { return in[0].unsqueeze(0).squeeze(0); }, {x});
  expect_gradcheck("clone", [](const std::vector<Tensor>& in) { return in[0].clone(); }, {x});
  expect_gradcheck("to", [](const std::vector<Tensor>& in) { return in[0].to(DType::f32).to(DType::f64); }, {x},
                   {1e-3, 1e-4, 1e-3});
}

}  // namespace
}  // namespace hm::test

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/npy.h"

namespace hm::test {
namespace {

TEST(Engine, NpyRoundTripAndCorruptFiles) {
  const std::string path = ::testing::TempDir() + "/roundtrip.npy";
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    Tensor t = from_doubles({1, 2, 3, 4, 5, 6}, {2, 3}, dt).transpose(0, 1);  // non-contiguous on purpose
    save_npy(path, t);
    Tensor back = load_npy(path);
    EXPECT_EQ(back.dtype(), dt);
    EXPECT_EQ(back.shape(), (Shape{3, 2}));
    EXPECT_EQ(back.to_vector<double>(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  }
  save_npy(path, from_doubles({7}, {1}));
  EXPECT_EQ(load_npy(path).shape(), (Shape{1}));
  save_npy(path, scalar_tensor(3));
  EXPECT_EQ(load_npy(path).item(), 3);
  EXPECT_TRUE(throws_with([] { load_npy("/nonexistent/x.npy"); }, "/nonexistent/x.npy"));
  {
    std::ofstream bad(path, std::ios::binary);
    bad << "hello, not numpy";
  }
  EXPECT_TRUE(throws_with([&] { load_npy(path); }, "bad magic"));
  save_npy(path, zeros({100}));
  std::filesystem::resize_file(path, 200);
  EXPECT_TRUE(throws_with([&] { load_npy(path); }, "truncated"));
}

}  // namespace
}  // namespace hm::test
