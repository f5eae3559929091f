// cat / stack / pad / embedding / gather / index_select: forward values against hand-written expectations and
// element-by-element references, float64 gradient checks (repeated indices included, so scatter-adds must
// accumulate), and error messages.
#include "ops/shape.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

Tensor seq(const Shape& s, DType dt = DType::f64) {
  std::vector<double> v(size_t(shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return from_doubles(v, s, dt);
}

std::vector<double> values(const Tensor& t) { return t.detach().to_vector<double>(); }

TEST(Cat, ForwardAlongEveryDimAndLayouts) {
  const Tensor a = seq({2, 3}), b = seq({2, 1}).to(DType::f64);
  EXPECT_EQ(values(cat({a, a}, 0)), (std::vector<double>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(values(cat({a, b}, 1)), (std::vector<double>{0, 1, 2, 0, 3, 4, 5, 1}));
  EXPECT_EQ(values(cat({b, a}, -1)), (std::vector<double>{0, 0, 1, 2, 1, 3, 4, 5}));
  // Non-contiguous inputs, size-0 pieces and integer tensors.
  const Tensor t = seq({3, 2}).transpose(0, 1);  // (2, 3): 0 2 4 / 1 3 5
  EXPECT_EQ(values(cat({t, seq({2, 0})}, 1)), (std::vector<double>{0, 2, 4, 1, 3, 5}));
  const Tensor ints = cat({arange(3), arange(2)}, 0);
  EXPECT_EQ(ints.dtype(), DType::i64);
  EXPECT_EQ(ints.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 0, 1}));
  // A 3-D cat on the middle dim against an element-wise reference.
  const Tensor x = seq({2, 3, 4}, DType::f32), y = seq({2, 1, 4}, DType::f32);
  const Tensor z = cat({x, y, x}, 1);
  ASSERT_EQ(z.shape(), (Shape{2, 7, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 7; ++j)
      for (int64_t k = 0; k < 4; ++k) {
        const double expect = j < 3 ? (i * 12 + j * 4 + k) : j == 3 ? (i * 4 + k) : (i * 12 + (j - 4) * 4 + k);
        ASSERT_EQ(z.select(0, i).select(0, j).select(0, k).item(), expect) << i << "," << j << "," << k;
      }
  std::vector<Tensor> list{x, y};  // a non-const vector and an int dim select the tensor overload
  EXPECT_EQ(cat(list, 1).shape(), (Shape{2, 4, 4}));
}

TEST(Cat, Gradcheck) {
  expect_gradcheck("cat", [](const std::vector<Tensor>& in) { return cat(in, 1); },
                   {randn_param({2, 1, 3}, 1), randn_param({2, 4, 3}, 2), randn_param({2, 2, 3}, 3)});
  expect_gradcheck("cat",
                   [](const std::vector<Tensor>& in) {
                     return cat({in[0], in[1].transpose(0, 1)}, 0);
                   },
                   {randn_param({1, 3}, 4), randn_param({3, 2}, 5)});
}

TEST(Cat, ErrorsNameTensorsAndShapes) {
  EXPECT_TRUE(throws_with([] { cat(std::vector<Tensor>{}, 0); }, "cat: expected a non-empty list"));
  EXPECT_TRUE(throws_with(
      [] {
        cat({zeros({2, 3}), zeros({2, 3}, DType::f64)}, 0);
      },
      "cat: dtype mismatch: tensor 1 is float64 but tensor 0 is float32"));
  EXPECT_TRUE(throws_with(
      [] {
        cat({zeros({2, 3}), zeros({2, 3}), zeros({3, 4})}, 1);
      },
      "cat: tensor 2 has shape (3, 4) but tensor 0 has (2, 3); sizes must match except in dim 1"));
  EXPECT_TRUE(throws_with([] { cat({zeros({2, 3}), zeros({2, 3, 1})}, 0); }, "tensor 1 has shape (2, 3, 1)"));
  EXPECT_TRUE(throws_with([] { cat({zeros({2})}, 1); }, "out of range"));
}

TEST(Stack, ForwardAndGradcheck) {
  const Tensor a = seq({2, 3}), b = seq({2, 3}).flip({1});
  const Tensor s0 = stack({a, b}, 0), s1 = stack({a, b}, 1), s2 = stack({a, b}, -1);
  EXPECT_EQ(s0.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(s1.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(s2.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values(s1), (std::vector<double>{0, 1, 2, 2, 1, 0, 3, 4, 5, 5, 4, 3}));
  EXPECT_EQ(values(s2), (std::vector<double>{0, 2, 1, 1, 2, 0, 3, 5, 4, 4, 5, 3}));
  expect_gradcheck("stack", [](const std::vector<Tensor>& in) { return stack(in, 1); },
                   {randn_param({3, 2}, 10), randn_param({3, 2}, 11), randn_param({3, 2}, 12)});
  EXPECT_TRUE(throws_with(
      [] {
        stack({zeros({2, 3}), zeros({2, 4})}, 0);
      },
      "stack: tensor 1 has shape (2, 4) but tensor 0 has (2, 3)"));
  EXPECT_TRUE(throws_with([] { stack({zeros({2, 3})}, 3); }, "stack: dim 3 out of range"));
}

TEST(Pad, ConstantPaddingAndCroppingFollowTorch) {
  // torch.nn.functional.pad(torch.arange(6.).reshape(2, 3), (1, 2), value=-1)
  const Tensor x = seq({2, 3});
  EXPECT_EQ(values(pad(x, {1, 2}, -1)), (std::vector<double>{-1, 0, 1, 2, -1, -1, -1, 3, 4, 5, -1, -1}));
  // (left, right, top, bottom) = (0, -1, 1, 0): crop the last column, one row of zeros on top.
  EXPECT_EQ(values(pad(x, {0, -1, 1, 0})), (std::vector<double>{0, 0, 0, 1, 3, 4}));
  // Crop on the left and pad on the right of the same dim; integer input.
  EXPECT_EQ(pad(arange(4), {-2, 1}).to_vector<int64_t>(), (std::vector<int64_t>{2, 3, 0}));
  // Cropping everything leaves only padding.
  EXPECT_EQ(values(pad(x, {-3, 1}, 7)), (std::vector<double>{7, 7}));
  // 3-D, padding two dims, no pads at all.
  const Tensor y = pad(seq({2, 2, 2}), {1, 0, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(values(y.select(0, 1)), (std::vector<double>{0, 4, 5, 0, 6, 7, 0, 0, 0}));
  EXPECT_EQ(values(pad(x, {})), values(x));
}

TEST(Pad, GradcheckAndErrors) {
  expect_gradcheck("pad",
                   [](const std::vector<Tensor>& in) {
                     return pad(in[0], {2, -1, -1, 1}, 0.5);
                   },
                   {randn_param({3, 4}, 20)});
  expect_gradcheck("pad",
                   [](const std::vector<Tensor>& in) {
                     return pad(in[0], {1, 1});
                   },
                   {randn_param({2, 1, 3}, 21)});
  EXPECT_TRUE(throws_with([] { pad(zeros({2, 3}), {1, 1, 1}); }, "pad: expected an even number of pad values"));
  EXPECT_TRUE(throws_with([] { pad(zeros({3}), {1, 1, 1, 1}); }, "at most 2 * rank = 2"));
  EXPECT_TRUE(throws_with(
      [] {
        pad(zeros({2, 3}), {-2, -2});
      },
      "pad: padding (-2, -2) on dim 1 of size 3 of input (2, 3) gives a negative size -1"));
}

TEST(Embedding, ForwardIndexTypesAndShapes) {
  const Tensor w = seq({5, 3});
  const Tensor i64 = from_vector<int64_t>({4, 0, 4, 2}, {2, 2});
  const Tensor e = embedding(w, i64);
  ASSERT_EQ(e.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values(e), (std::vector<double>{12, 13, 14, 0, 1, 2, 12, 13, 14, 6, 7, 8}));
  const Tensor i32 = from_vector<int32_t>({1}, {1});
  EXPECT_EQ(values(embedding(w.to(DType::f32), i32)), (std::vector<double>{3, 4, 5}));
  EXPECT_EQ(embedding(w, from_vector<int64_t>({3}, {})).shape(), (Shape{3}));  // 0-d index
  EXPECT_EQ(embedding(w, zeros({0}, DType::i64)).shape(), (Shape{0, 3}));
}

TEST(Embedding, GradcheckRepeatedIndicesAndErrors) {
  const Tensor idx = from_vector<int64_t>({1, 3, 1, 1, 0, 3}, {2, 3});
  expect_gradcheck("embedding", [idx](const std::vector<Tensor>& in) { return embedding(in[0], idx); },
                   {randn_param({4, 2}, 30)});
  EXPECT_TRUE(throws_with(
      [] {
        embedding(zeros({5, 3}), from_vector<int64_t>({0, 7, 1}, {3}));
      },
      "embedding: index 7 out of range for an embedding table of V = 5 rows (weight (5, 3))"));
  EXPECT_TRUE(throws_with([] { embedding(zeros({5, 3}), from_vector<int32_t>({-1}, {1})); }, "index -1 out of range"));
  EXPECT_TRUE(throws_with(
      [] {
        embedding(zeros({5, 3}), zeros({2}));
      },
      "embedding: expected an int32 or int64 index tensor, got float32"));
  EXPECT_TRUE(throws_with([] { embedding(zeros({5}), zeros({2}, DType::i64)); }, "weight must be (V, D)"));
}

TEST(Gather, ForwardMatchesDefinition) {
  // torch.gather(t, 1, idx) with idx smaller than t in dim 0: out[i][j] = t[i][idx[i][j]].
  const Tensor t = seq({3, 4});
  const Tensor idx = from_vector<int64_t>({3, 0, 0, 1, 1, 2}, {2, 3});
  EXPECT_EQ(values(gather(t, 1, idx)), (std::vector<double>{3, 0, 0, 5, 5, 6}));
  // dim 0 on a 3-D transposed input: out[i][j][k] = t[idx[i][j][k]][j][k].
  const Tensor t3 = seq({4, 3, 2}).transpose(1, 2).contiguous().transpose(1, 2);  // (4, 3, 2) non-contiguous
  const Tensor i3 = from_vector<int32_t>({3, 0, 2, 2, 1, 0, 0, 3}, {2, 2, 2});
  const Tensor g3 = gather(t3, 0, i3);
  const std::vector<int32_t> iv = i3.to_vector<int32_t>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 2; ++k)
        EXPECT_EQ(g3.select(0, i).select(0, j).select(0, k).item(), double(iv[i * 4 + j * 2 + k] * 6 + j * 2 + k));
}

TEST(Gather, GradcheckAndErrors) {
  const Tensor idx = from_vector<int64_t>({2, 2, 0, 1, 0, 0}, {3, 2});  // repeats accumulate
  expect_gradcheck("gather", [idx](const std::vector<Tensor>& in) { return gather(in[0], 0, idx); },
                   {randn_param({3, 3}, 40)});
  expect_gradcheck("gather", [idx](const std::vector<Tensor>& in) { return gather(in[0], -1, idx); },
                   {randn_param({4, 3}, 41)});
  EXPECT_TRUE(throws_with(
      [] {
        gather(zeros({3, 4}), 1, from_vector<int64_t>({4}, {1, 1}));
      },
      "gather: index 4 out of range for dim 1 of size 4 (input (3, 4))"));
  EXPECT_TRUE(throws_with(
      [] {
        gather(zeros({3, 4}), 1, zeros({2}, DType::i64));
      },
      "gather: index (2,) must have the same number of dims as input (3, 4)"));
  EXPECT_TRUE(throws_with(
      [] {
        gather(zeros({3, 4}), 1, zeros({4, 1}, DType::i64));
      },
      "gather: index (4, 1) is larger than input (3, 4) at dim 0"));
}

TEST(IndexSelect, ForwardGradcheckAndErrors) {
  const Tensor t = seq({2, 3, 2});
  const Tensor idx = from_vector<int32_t>({2, 0, 2}, {3});
  EXPECT_EQ(values(index_select(t, 1, idx)), (std::vector<double>{4, 5, 0, 1, 4, 5, 10, 11, 6, 7, 10, 11}));
  EXPECT_EQ(values(index_select(t, 0, from_vector<int64_t>({1}, {1}))), values(t.select(0, 1)));
  expect_gradcheck("index_select", [idx](const std::vector<Tensor>& in) { return index_select(in[0], 1, idx); },
                   {randn_param({2, 3, 2}, 50)});
  expect_gradcheck("index_select",
                   [](const std::vector<Tensor>& in) {
                     return index_select(in[0], -1, from_vector<int64_t>({0, 0, 3}, {3}));
                   },
                   {randn_param({2, 4}, 51)});
  EXPECT_TRUE(throws_with([&] { index_select(t, 1, from_vector<int64_t>({3}, {1})); },
                          "index_select: index 3 out of range for dim 1 of size 3 (input (2, 3, 2))"));
  EXPECT_TRUE(throws_with([&] { index_select(t, 1, zeros({1, 1}, DType::i64)); }, "index must be 1-D"));
}

}  // namespace
}  // namespace hm::test
