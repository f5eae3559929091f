// conformance: attention — every variant of the `attention` kernel table against the scalar reference, forward
// (out, lse) and backward (dq, dk, dv), f32 and f64, on shapes with length 1, odd lengths, Tq != Tk, Dh not a
// multiple of any vector width, several query blocks, causal, key padding (incl. a fully padded batch) and
// dropout. Output buffers are poisoned with NaN first so an element a variant forgets to write fails.
#include <cmath>
#include <limits>
#include <tuple>

#include "ops/attention.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

struct Case {
  int64_t B, H, Tq, Tk, Dh;
  bool causal;
  bool mask;
  double dropout_p;
};

// |a - ref| <= atol + rtol |ref| for every element, with -inf == -inf (lse of fully masked rows); NaN fails.
template <class T>
::testing::AssertionResult close(const Tensor& a, const Tensor& ref, double atol, double rtol, const char* what) {
  const T* x = a.data<T>();
  const T* y = ref.data<T>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isinf(y[i]) && x[i] == y[i]) continue;
    const double err = std::abs(double(x[i]) - double(y[i]));
    if (!(err <= atol + rtol * std::abs(double(y[i]))))
      return ::testing::AssertionFailure() << what << " element " << i << ": " << x[i] << " vs scalar " << y[i];
  }
  return ::testing::AssertionSuccess();
}

struct Result {
  Tensor out, lse, dq, dk, dv;
};

Tensor nan_filled(const Shape& s, DType dt) { return full(s, std::numeric_limits<double>::quiet_NaN(), dt); }

template <class T>
void check_case(const Case& c, const cpu::AttentionKernels& variant, const cpu::AttentionKernels& reference,
                uint64_t seed) {
  const DType dt = dtype_of<T>::value;
  Generator gen(seed);
  const Tensor q = randn({c.B, c.H, c.Tq, c.Dh}, dt, gen), k = randn({c.B, c.H, c.Tk, c.Dh}, dt, gen),
               v = randn({c.B, c.H, c.Tk, c.Dh}, dt, gen), dout = randn({c.B, c.H, c.Tq, c.Dh}, dt, gen);
  Tensor mask;
  if (c.mask) {  // ~30% padded keys; the last batch entry fully padded when B > 1
    mask = zeros({c.B, c.Tk}, DType::u8);
    uint8_t* m = mask.data<uint8_t>();
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t j = 0; j < c.Tk; ++j) m[b * c.Tk + j] = (c.B > 1 && b == c.B - 1) || gen.next_double() < 0.3;
  }
  const uint8_t* pad = c.mask ? mask.data<uint8_t>() : nullptr;
  cpu::AttentionDims d;
  d.B = c.B, d.H = c.H, d.Tq = c.Tq, d.Tk = c.Tk, d.Dh = c.Dh;
  d.scale = 1.0 / std::sqrt(double(c.Dh));
  d.causal = c.causal;
  d.dropout_p = c.dropout_p;
  d.seed = seed * 31 + 7;
  d.offset = 1000 + seed;  // not a multiple of 4 blocks' worth, so rows start mid-block

  auto run = [&](const cpu::AttentionKernels& kern) {
    Result r{nan_filled(q.shape(), dt), nan_filled({c.B, c.H, c.Tq}, dt), nan_filled(q.shape(), dt),
             nan_filled(k.shape(), dt), nan_filled(v.shape(), dt)};
    kern.forward<T>()(d, q.data<T>(), k.data<T>(), v.data<T>(), pad, r.out.data<T>(), r.lse.data<T>());
    kern.backward<T>()(d, q.data<T>(), k.data<T>(), v.data<T>(), pad, r.out.data<T>(), r.lse.data<T>(), dout.data<T>(),
                       r.dq.data<T>(), r.dk.data<T>(), r.dv.data<T>());
    return r;
  };
  const Result want = run(reference), got = run(variant);
  const double atol = sizeof(T) == 4 ? 1e-4 : 1e-11, rtol = sizeof(T) == 4 ? 1e-3 : 1e-9;
  EXPECT_TRUE(close<T>(got.out, want.out, atol, rtol, "out"));
  EXPECT_TRUE(close<T>(got.lse, want.lse, atol, rtol, "lse"));
  EXPECT_TRUE(close<T>(got.dq, want.dq, atol, rtol, "dq"));
  EXPECT_TRUE(close<T>(got.dk, want.dk, atol, rtol, "dk"));
  EXPECT_TRUE(close<T>(got.dv, want.dv, atol, rtol, "dv"));
}

TEST(AttentionConformance, EveryVariantMatchesScalar) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, false, false, 0.0},    {2, 3, 7, 5, 3, true, true, 0.0},
      {1, 2, 5, 13, 17, false, true, 0.2},   {2, 1, 50, 1100, 5, true, true, 0.1},  // several query blocks
      {1, 1, 37, 37, 8, true, false, 0.5},   {3, 2, 19, 23, 16, false, true, 0.0},
      {1, 3, 40, 700, 9, false, false, 0.3}, {1, 1, 66, 3, 31, true, false, 0.0},  // Tq > Tk, causal
  };
  const cpu::AttentionKernels reference = attention_table().get("scalar");
  check_all_variants(attention_table(), [&](const std::string& name, const cpu::AttentionKernels& kern) {
    uint64_t seed = 1;
    for (const Case& c : cases) {
      SCOPED_TRACE(name + ": B=" + std::to_string(c.B) + " H=" + std::to_string(c.H) + " Tq=" + std::to_string(c.Tq) +
                   " Tk=" + std::to_string(c.Tk) + " Dh=" + std::to_string(c.Dh) + (c.causal ? " causal" : "") +
                   (c.mask ? " mask" : "") + " p=" + std::to_string(c.dropout_p));
      check_case<float>(c, kern, reference, seed++);
      check_case<double>(c, kern, reference, seed++);
    }
  });
}

TEST(AttentionConformance, DropoutKeepRowMatchesScalarPhilox) {
  // The vectorised Philox of the blocked variant must reproduce engine/rng.h's stream element by element,
  // including rows that start mid-block, short rows and a counter whose low word carries.
  const uint32_t threshold = cpu::dropout_threshold(0.4);
  for (const auto& [offset, e0, n] : std::vector<std::tuple<uint64_t, uint64_t, int64_t>>{
           {0, 0, 1}, {5, 3, 7}, {17, 1, 100}, {0xFFFFFFF0ull, 2, 300}, {123456789012ull, 401, 1000}}) {
    std::vector<uint32_t> words(size_t(n + 8));
    std::vector<float> keep(static_cast<size_t>(n));
    cpu::rows::dropout_keep(42, offset, e0, n, threshold, 2.0f, words.data(), keep.data());
    for (int64_t j = 0; j < n; ++j) {
      const uint64_t e = e0 + uint64_t(j);
      const bool kept = philox4x32(42, offset + e / 4, 0)[e % 4] >= threshold;
      ASSERT_EQ(keep[size_t(j)], kept ? 2.0f : 0.0f) << "offset " << offset << " e " << e;
    }
  }
}

}  // namespace
}  // namespace hm::test
