// CUDA convolutions and weight_norm (ops/conv_cuda.cpp, cuda/conv_direct.cu, cuda/conv_cudnn.cu):
//  * conformance of every CUDA variant against the CPU scalar reference, computed in f64 on the same (rounded)
//    inputs, for f64, f32 and bf16, on HuBERT-stem-like, depthwise k = 31, causal k = 4, dilated, grouped, odd
//    and length-1 geometries; device outputs are poisoned with NaN first so an unwritten element fails;
//  * op level: conv1d / conv2d / weight_norm forward and every gradient on CUDA vs the CPU op;
//  * bad input: mixed devices, unsupported dtypes.
// Tolerances are |got - ref| <= tol * max(1, max|ref|) per output: f64 1e-12, f32 2e-5 (cuDNN may pick FFT or
// Winograd algorithms, whose f32 rounding is a few times that of a direct sum), bf16 2e-2 (outputs are rounded to
// bf16, 2^-9 relative), f32 with TF32 allowed 1e-2 (10-bit mantissa products).
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "engine/autocast.h"
#include "engine/strided.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/test_util.h"
#ifdef HUBMAMBA_WITH_CUDA
#include "cuda/conv_cudnn.h"
#endif

namespace hm::test {
namespace {

// ---- Host / device buffers --------------------------------------------------------------------------------------

// Host values -> a device tensor of dtype dt (converted on the device: the CPU has no bf16 arithmetic).
Tensor to_device(const std::vector<double>& v, DType dt) {
  return from_doubles(v, {int64_t(v.size())}, DType::f64).to(Device::cuda()).to(dt);
}

// A device tensor's values as f64 on the host (converted on the device first).
std::vector<double> to_host(const Tensor& t) { return t.to(DType::f64).to(Device::cpu()).to_vector<double>(); }

// n standard-normal values rounded to dtype dt (so the f64 reference sees exactly the device's inputs).
std::vector<double> rounded_randn(int64_t n, DType dt, Generator& gen) {
  const std::vector<double> v = randn({n}, DType::f64, gen).to_vector<double>();
  return dt == DType::f64 ? v : to_host(to_device(v, dt));
}

// A device buffer of n elements filled with NaN.
Tensor nan_buffer(int64_t n, DType dt) {
  Tensor t = empty({n}, dt, Device::cuda());
  strided::fill(t, std::numeric_limits<double>::quiet_NaN());
  return t;
}

const void* cptr(const Tensor& t) { return t.device_raw_data(); }
void* mptr(const Tensor& t) { return t.device_raw_data(); }

cuda::Precision precision(DType dt) {
  return dt == DType::f64 ? cuda::Precision::f64 : dt == DType::f32 ? cuda::Precision::f32 : cuda::Precision::bf16;
}

// |got - ref| <= tol * max(1, max|ref|) elementwise (NaN fails); names the worst element.
::testing::AssertionResult close_to_ref(const std::vector<double>& got, const std::vector<double>& ref, double tol,
                                        const char* what) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " elements vs " << ref.size();
  double scale = 1;
  for (double r : ref) scale = std::max(scale, std::abs(r));
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - ref[i]) <= tol * scale))
      return ::testing::AssertionFailure() << what << "[" << i << "] = " << got[i] << " vs reference " << ref[i]
                                           << " (tol " << tol << " * " << scale << ")";
  return ::testing::AssertionSuccess();
}

double tolerance(DType dt) { return dt == DType::f64 ? 1e-12 : dt == DType::f32 ? 2e-5 : 2e-2; }

// ---- Cases: a device geometry plus the CPU scalar reference (f64) on it -----------------------------------------

struct Case {
  std::string name;
  cuda::ConvGeom g;
  std::function<void(const double* x, const double* w, const double* bias, double* y)> forward;
  std::function<void(const double* dy, const double* w, double* dx)> backward_input;
  std::function<void(const double* dy, const double* x, double* dw, double* db)> backward_weight;
};

// conv1d (B, Cin, L) with w (Cout, Cin/groups, K); false when the padded input is shorter than the kernel.
bool conv1d_case(Case& c, int64_t B, int64_t Cin, int64_t L, int64_t Cout, int64_t K, int64_t s, int64_t pl, int64_t pr,
                 int64_t d, int64_t groups) {
  if (L + pl + pr < d * (K - 1) + 1) return false;
  cpu::Conv1dGeom g;
  g.B = B, g.Cin = Cin, g.L = L, g.Cout = Cout, g.K = K, g.stride = s, g.pad_left = pl, g.dilation = d;
  g.groups = groups, g.Lout = conv1d_output_length(L, K, {s, pl, pr, d, groups});
  c = {};
  c.name = testing::PrintToString(std::array<int64_t, 10>{B, Cin, L, Cout, K, s, pl, pr, d, groups});
  c.name = "conv1d (B, Cin, L, Cout, K, stride, pad_l, pad_r, dil, groups) = " + c.name;
  c.g.B = B, c.g.Cin = Cin, c.g.W = L, c.g.Cout = Cout, c.g.KW = K, c.g.Wout = g.Lout;
  c.g.stride_w = s, c.g.pad_w = pl, c.g.dilation_w = d, c.g.groups = groups;
  const cpu::Conv1dKernels<double> ref = cpu::conv1d_scalar().f64;
  c.forward = [g, ref](const double* x, const double* w, const double* b, double* y) { ref.forward(g, x, w, b, y); };
  c.backward_input = [g, ref](const double* dy, const double* w, double* dx) { ref.backward_input(g, dy, w, dx); };
  c.backward_weight = [g, ref](const double* dy, const double* x, double* dw, double* db) {
    ref.backward_weight(g, dy, x, dw, db);
  };
  return true;
}

// conv2d (B, Cin, H, W) with w (Cout, Cin, KH, KW), symmetric padding.
bool conv2d_case(Case& c, int64_t B, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t KH, int64_t KW,
                 int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  const int64_t eh = dh * (KH - 1) + 1, ew = dw * (KW - 1) + 1;
  if (H + 2 * ph < eh || W + 2 * pw < ew) return false;
  cpu::Conv2dGeom g;
  g.B = B, g.Cin = Cin, g.H = H, g.W = W, g.Cout = Cout, g.KH = KH, g.KW = KW;
  g.stride_h = sh, g.stride_w = sw, g.pad_h = ph, g.pad_w = pw, g.dilation_h = dh, g.dilation_w = dw;
  g.Hout = (H + 2 * ph - eh) / sh + 1, g.Wout = (W + 2 * pw - ew) / sw + 1;
  c = {};
  c.name = "conv2d (B, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, dh, dw) = " +
           testing::PrintToString(std::array<int64_t, 13>{B, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, dh, dw});
  c.g.B = B, c.g.Cin = Cin, c.g.H = H, c.g.W = W, c.g.Cout = Cout, c.g.KH = KH, c.g.KW = KW;
  c.g.Hout = g.Hout, c.g.Wout = g.Wout, c.g.stride_h = sh, c.g.stride_w = sw, c.g.pad_h = ph, c.g.pad_w = pw;
  c.g.dilation_h = dh, c.g.dilation_w = dw;
  const cpu::Conv2dKernels<double> ref = cpu::conv2d_scalar().f64;
  c.forward = [g, ref](const double* x, const double* w, const double* b, double* y) { ref.forward(g, x, w, b, y); };
  c.backward_input = [g, ref](const double* dy, const double* w, double* dx) { ref.backward_input(g, dy, w, dx); };
  c.backward_weight = [g, ref](const double* dy, const double* x, double* dw, double* db) {
    ref.backward_weight(g, dy, x, dw, db);
  };
  return true;
}

std::vector<Case> conv1d_cases(bool depthwise) {
  std::vector<Case> out;
  Case c;
  // (B, Cin, L, Cout, K, stride, pad_left, pad_right, dilation, groups)
  const std::vector<std::array<int64_t, 10>> dense = {
      {2, 1, 163, 8, 10, 5, 0, 0, 1, 1},  // HuBERT stem layer 0, shrunk: k = 10, stride 5, odd length
      {2, 8, 31, 8, 3, 2, 0, 0, 1, 1},    // stem layers 1-4: k = 3, stride 2
      {2, 8, 7, 8, 2, 2, 0, 0, 1, 1},     // stem layers 5-6: k = 2, stride 2
      {1, 3, 10, 4, 10, 5, 0, 0, 1, 1},   // one output position
      {1, 1, 1, 1, 1, 1, 0, 0, 1, 1},     // L = 1, K = 1
      {2, 3, 2, 5, 5, 1, 2, 2, 1, 1},     // kernel longer than the input
      {2, 4, 19, 6, 3, 1, 2, 4, 3, 1},    // dilation 3, asymmetric padding
      {2, 4, 29, 5, 3, 2, 2, 2, 2, 1},    // dilation 2, stride 2, symmetric padding
      {2, 4, 21, 6, 5, 2, 1, 2, 1, 2},    // groups 2, asymmetric padding
      {2, 8, 25, 8, 8, 1, 4, 4, 1, 4},    // positional conv, shrunk: even k, groups, Lout = L + 1
      {2, 3, 12, 4, 3, 4, 2, 0, 1, 1},    // asymmetric padding whose last input samples are never read
      {1, 3, 7, 2, 4, 1, 0, 3, 1, 1},     // right padding only
      {3, 5, 33, 7, 1, 1, 0, 0, 1, 1},    // pointwise
      {2, 12, 45, 6, 3, 1, 1, 1, 1, 3}};  // groups 3 with Cout < Cin
  // (B, C, L, K, stride, pad_left, pad_right, dilation), groups = Cin = Cout = C
  const std::vector<std::array<int64_t, 8>> dw = {
      {2, 6, 37, 31, 1, 15, 15, 1},  // conformer depthwise k = 31
      {2, 5, 17, 4, 1, 3, 0, 1},     // Mamba causal conv: k = 4, left padding 3
      {1, 5, 1, 4, 1, 3, 0, 1},      // causal conv on one step
      {2, 64, 129, 4, 1, 3, 0, 1},   // causal conv, more channels
      {2, 3, 30, 3, 2, 2, 1, 2},     // stride 2, dilation 2
      {1, 7, 5, 5, 1, 2, 2, 1}};     // same padding, short input
  if (depthwise) {
    for (const auto& e : dw)
      if (conv1d_case(c, e[0], e[1], e[2], e[1], e[3], e[4], e[5], e[6], e[7], e[1])) out.push_back(c);
  } else {
    for (const auto& e : dense)
      if (conv1d_case(c, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9])) out.push_back(c);
  }
  Generator gen(depthwise ? 91 : 92);
  auto pick = [&](int64_t lo, int64_t hi) { return lo + int64_t(gen.next_below(uint64_t(hi - lo + 1))); };
  for (int i = 0; i < 12; ++i) {
    const int64_t groups = depthwise ? pick(1, 9) : pick(1, 3);
    const int64_t Cin = depthwise ? groups : groups * pick(1, 3), Cout = depthwise ? groups : groups * pick(1, 3);
    if (conv1d_case(c, pick(1, 3), Cin, pick(1, 70), Cout, pick(1, 9), pick(1, 4), pick(0, 5), pick(0, 5), pick(1, 3),
                    groups))
      out.push_back(c);
  }
  return out;
}

std::vector<Case> conv2d_cases() {
  std::vector<Case> out;
  Case c;
  // (B, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, dh, dw)
  const std::vector<std::array<int64_t, 13>> fixed = {
      {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 2, 13, 11, 3, 3, 3, 2, 2, 0, 0, 1, 1},
      {2, 3, 7, 8, 2, 3, 2, 2, 1, 1, 2, 1, 2},  {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1},
      {1, 2, 2, 3, 2, 4, 4, 1, 1, 2, 1, 1, 1},  {2, 2, 9, 17, 3, 5, 3, 3, 2, 1, 0, 2, 1}};
  for (const auto& e : fixed)
    if (conv2d_case(c, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9], e[10], e[11], e[12]))
      out.push_back(c);
  Generator gen(93);
  auto pick = [&](int64_t lo, int64_t hi) { return lo + int64_t(gen.next_below(uint64_t(hi - lo + 1))); };
  for (int i = 0; i < 8; ++i)
    if (conv2d_case(c, pick(1, 2), pick(1, 3), pick(1, 12), pick(1, 12), pick(1, 4), pick(1, 4), pick(1, 4), pick(1, 3),
                    pick(1, 3), pick(0, 2), pick(0, 2), pick(1, 2), pick(1, 2)))
      out.push_back(c);
  return out;
}

// Every pass of variant k on one case and dtype vs the f64 scalar reference on the same rounded inputs.
void check_case(const ConvCudaFns& k, const Case& c, DType dt, double tol, uint64_t seed) {
  SCOPED_TRACE(c.name + " dtype " + dtype_name(dt));
  const cuda::ConvGeom& g = c.g;
  const cuda::Precision p = precision(dt);
  const int64_t nx = g.B * g.Cin * g.H * g.W, nw = g.Cout * g.cin_g() * g.KH * g.KW;
  const int64_t ny = g.B * g.Cout * g.Hout * g.Wout;
  Generator gen(seed);
  const std::vector<double> x = rounded_randn(nx, dt, gen), w = rounded_randn(nw, dt, gen);
  const std::vector<double> bias = rounded_randn(g.Cout, dt, gen), dy = rounded_randn(ny, dt, gen);
  const Tensor xd = to_device(x, dt), wd = to_device(w, dt), bd = to_device(bias, dt), dyd = to_device(dy, dt);

  for (const bool with_bias : {false, true}) {
    std::vector<double> y_ref(static_cast<size_t>(ny));
    c.forward(x.data(), w.data(), with_bias ? bias.data() : nullptr, y_ref.data());
    const Tensor y = nan_buffer(ny, dt);
    k.forward(g, p, cptr(xd), cptr(wd), with_bias ? cptr(bd) : nullptr, mptr(y));
    EXPECT_TRUE(close_to_ref(to_host(y), y_ref, tol, with_bias ? "y (bias)" : "y"));
  }
  std::vector<double> dx_ref(static_cast<size_t>(nx)), dw_ref(static_cast<size_t>(nw)),
      db_ref(static_cast<size_t>(g.Cout));
  c.backward_input(dy.data(), w.data(), dx_ref.data());
  c.backward_weight(dy.data(), x.data(), dw_ref.data(), db_ref.data());

  const Tensor dx = nan_buffer(nx, dt);
  k.backward_input(g, p, cptr(dyd), cptr(wd), mptr(dx));
  EXPECT_TRUE(close_to_ref(to_host(dx), dx_ref, tol, "dx"));

  const Tensor dw = nan_buffer(nw, dt), db = nan_buffer(g.Cout, dt), dw2 = nan_buffer(nw, dt);
  k.backward_weight(g, p, cptr(dyd), cptr(xd), mptr(dw), mptr(db));
  EXPECT_TRUE(close_to_ref(to_host(dw), dw_ref, tol, "dw"));
  EXPECT_TRUE(close_to_ref(to_host(db), db_ref, tol, "db"));
  k.backward_weight(g, p, cptr(dyd), cptr(xd), mptr(dw2), nullptr);  // db == nullptr still yields dw
  EXPECT_TRUE(close_to_ref(to_host(dw2), dw_ref, tol, "dw (no db)"));

  const Tensor db2 = nan_buffer(g.Cout, dt);
  k.backward_bias(p, cptr(dyd), g.B, g.Cout, g.Hout * g.Wout, mptr(db2));
  EXPECT_TRUE(close_to_ref(to_host(db2), db_ref, tol, "db (backward_bias)"));
}

// check(fn) for every variant of a CUDA table. (check_all_variants in tests/test_util.h demands a "scalar" variant
// in the table itself; a CUDA table has none, its reference is the CPU table's scalar variant.)
template <class Fn, class Check>
void each_cuda_variant(const KernelTable<Fn>& table, Check&& check) {
  ASSERT_EQ(table.device(), DeviceType::cuda);
  ASSERT_FALSE(table.variants().empty()) << table.name() << ": no variants";
  for (const std::string& v : table.variants()) {
    SCOPED_TRACE("kernel " + table.name() + "=" + v);
    check(table.get(v));
  }
}

void run_table(const KernelTable<ConvCudaFns>& table, const std::vector<Case>& cases) {
  ASSERT_GT(cases.size(), 5u);
  each_cuda_variant(table, [&](const ConvCudaFns& k) {
    for (size_t i = 0; i < cases.size(); ++i)
      for (const DType dt : {DType::f64, DType::f32, DType::bf16}) check_case(k, cases[i], dt, tolerance(dt), 500 + i);
  });
}

TEST(ConvCudaConformance, Conv1dDenseVariantsMatchScalar) {
  HM_SKIP_WITHOUT_CUDA();
  // conformance: conv1d_dense@cuda
  run_table(conv1d_dense_cuda_table(), conv1d_cases(false));
}

TEST(ConvCudaConformance, Conv1dDepthwiseVariantsMatchScalar) {
  HM_SKIP_WITHOUT_CUDA();
  // conformance: conv1d_depthwise@cuda
  run_table(conv1d_depthwise_cuda_table(), conv1d_cases(true));
}

TEST(ConvCudaConformance, Conv2dVariantsMatchScalar) {
  HM_SKIP_WITHOUT_CUDA();
  // conformance: conv2d@cuda
  run_table(conv2d_cuda_table(), conv2d_cases());
}

// v viewed as (outer, D, inner): HuBERT's positional conv (dim = 2: inner = 1), dim = 0, a middle dim, D = 1.
const std::vector<std::array<int64_t, 3>> kWeightNormShapes = {
    {48, 16, 1}, {1, 7, 30}, {5, 3, 9}, {3, 1, 4}, {1, 1, 1}};

TEST(WeightNormConformance, CpuVariantsMatchCompositeOps) {  // no GPU needed
  // conformance: weight_norm (each CPU variant vs the formula built from elementwise/reduce ops, autograd included)
  check_all_variants(weight_norm_table(), [](const std::string&, const WeightNormVariant& k) {
    for (size_t s = 0; s < kWeightNormShapes.size(); ++s) {
      const int64_t outer = kWeightNormShapes[s][0], D = kWeightNormShapes[s][1], inner = kWeightNormShapes[s][2];
      SCOPED_TRACE(testing::Message() << "outer " << outer << " D " << D << " inner " << inner);
      const Tensor v = randn_param({outer, D, inner}, 610 + s), g = randn_param({1, D, 1}, 620 + s);
      const Tensor w = mul(g, div(v, sqrt(sum(mul(v, v), {0, 2}, true))));  // g * v / ||v||, autograd by ops
      const Tensor dw = randn_param({outer, D, inner}, 630 + s).detach();
      w.backward(dw);
      std::vector<double> w_k(static_cast<size_t>(outer * D * inner)), norm(static_cast<size_t>(D));
      std::vector<double> dv_k(w_k.size()), dg_k(norm.size());
      const std::vector<double> vv = v.to_vector<double>(), gv = g.to_vector<double>(), dwv = dw.to_vector<double>();
      k.f64.forward(vv.data(), gv.data(), outer, D, inner, w_k.data(), norm.data());
      k.f64.backward(dwv.data(), vv.data(), gv.data(), norm.data(), outer, D, inner, dv_k.data(), dg_k.data());
      EXPECT_TRUE(close_to_ref(w_k, w.to_vector<double>(), 1e-12, "w"));
      EXPECT_TRUE(close_to_ref(dv_k, v.grad().to_vector<double>(), 1e-12, "dv"));
      EXPECT_TRUE(close_to_ref(dg_k, g.grad().to_vector<double>(), 1e-12, "dg"));
    }
  });
}

TEST(ConvCudaConformance, WeightNormMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  // conformance: weight_norm@cuda (against the CPU table's scalar variant)
  const std::vector<std::array<int64_t, 3>>& shapes = kWeightNormShapes;
  const WeightNormKernels<double> ref = weight_norm_table().get("scalar").f64;
  each_cuda_variant(weight_norm_cuda_table(), [&](const WeightNormCudaFns& k) {
    for (size_t s = 0; s < shapes.size(); ++s)
      for (const DType dt : {DType::f64, DType::f32}) {
        const int64_t outer = shapes[s][0], D = shapes[s][1], inner = shapes[s][2], n = outer * D * inner;
        SCOPED_TRACE(testing::Message() << "outer " << outer << " D " << D << " inner " << inner << " " << dt);
        Generator gen(600 + s);
        const std::vector<double> v = rounded_randn(n, dt, gen), g = rounded_randn(D, dt, gen);
        const std::vector<double> dw = rounded_randn(n, dt, gen);
        std::vector<double> w_ref(static_cast<size_t>(n)), norm_ref(static_cast<size_t>(D)),
            dv_ref(static_cast<size_t>(n)), dg_ref(static_cast<size_t>(D));
        ref.forward(v.data(), g.data(), outer, D, inner, w_ref.data(), norm_ref.data());
        ref.backward(dw.data(), v.data(), g.data(), norm_ref.data(), outer, D, inner, dv_ref.data(), dg_ref.data());
        const Tensor vd = to_device(v, dt), gd = to_device(g, dt), dwd = to_device(dw, dt);
        const Tensor w = nan_buffer(n, dt), norm = nan_buffer(D, dt), dv = nan_buffer(n, dt), dg = nan_buffer(D, dt);
        const cuda::Precision p = precision(dt);
        k.forward(p, cptr(vd), cptr(gd), outer, D, inner, mptr(w), mptr(norm));
        EXPECT_TRUE(close_to_ref(to_host(w), w_ref, tolerance(dt), "w"));
        EXPECT_TRUE(close_to_ref(to_host(norm), norm_ref, tolerance(dt), "norm"));
        k.backward(p, cptr(dwd), cptr(vd), cptr(gd), cptr(norm), outer, D, inner, mptr(dv), mptr(dg));
        EXPECT_TRUE(close_to_ref(to_host(dv), dv_ref, tolerance(dt), "dv"));
        EXPECT_TRUE(close_to_ref(to_host(dg), dg_ref, tolerance(dt), "dg"));
        const Tensor dg_only = nan_buffer(D, dt);  // dv == nullptr: only dg
        k.backward(p, cptr(dwd), cptr(vd), cptr(gd), cptr(norm), outer, D, inner, nullptr, mptr(dg_only));
        EXPECT_TRUE(close_to_ref(to_host(dg_only), dg_ref, tolerance(dt), "dg (no dv)"));
      }
  });
}

#ifdef HUBMAMBA_WITH_CUDA
// Restores exact f32 cuDNN convolutions however the test exits.
struct Tf32Scope {
  Tf32Scope() { cuda::set_conv_allow_tf32(true); }
  ~Tf32Scope() { cuda::set_conv_allow_tf32(false); }
};

TEST(ConvCudaConformance, CudnnTf32StaysClose) {
  HM_SKIP_WITHOUT_CUDA();
  const ConvCudaFns k = conv1d_dense_cuda_table().get("cuda_cudnn");
  const std::vector<Case> cases = conv1d_cases(false);
  {
    Tf32Scope tf32;
    for (size_t i = 0; i < 6; ++i) check_case(k, cases[i], DType::f32, 1e-2, 700 + i);
  }
  EXPECT_FALSE(cuda::conv_allow_tf32());
  for (size_t i = 0; i < 6; ++i) check_case(k, cases[i], DType::f32, tolerance(DType::f32), 700 + i);  // exact again
}

TEST(ConvCudaConformance, CudnnChoosesEachAlgorithmOnce) {
  HM_SKIP_WITHOUT_CUDA();
  const ConvCudaFns k = conv1d_dense_cuda_table().get("cuda_cudnn");
  Case c;
  ASSERT_TRUE(conv1d_case(c, 3, 5, 41, 6, 5, 2, 3, 1, 1, 1));  // a shape no other test uses (padded path)
  const int64_t before = cuda::conv_cudnn_cached_algorithms();
  check_case(k, c, DType::f32, tolerance(DType::f32), 801);
  const int64_t after_first = cuda::conv_cudnn_cached_algorithms();
  EXPECT_EQ(after_first, before + 3) << "one cached choice per pass (forward, backward data, backward filter)";
  check_case(k, c, DType::f32, tolerance(DType::f32), 802);
  EXPECT_EQ(cuda::conv_cudnn_cached_algorithms(), after_first) << "a second run of the same shape re-chose";
  check_case(k, c, DType::f64, tolerance(DType::f64), 803);
  EXPECT_EQ(cuda::conv_cudnn_cached_algorithms(), after_first + 3) << "the dtype is part of the key";
}
#endif

// ---- Op level: the CUDA op vs the CPU op, forward and every gradient --------------------------------------------

// Loss sum(y * r) on both devices; compares y and the gradients of every input that requires grad.
void compare_op(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& cpu_inputs,
                double tol) {
  std::vector<Tensor> cuda_inputs;
  for (const Tensor& t : cpu_inputs) {
    Tensor d = t.detach().to(Device::cuda());
    d.requires_grad_(t.requires_grad());
    cuda_inputs.push_back(d);
  }
  const Tensor y_cpu = f(cpu_inputs), y_cuda = f(cuda_inputs);
  ASSERT_TRUE(y_cuda.is_cuda());
  Generator gen(99);
  const Tensor r = randn(y_cpu.shape(), y_cpu.dtype(), gen);
  y_cpu.backward(r);
  y_cuda.backward(r.to(Device::cuda()));
  EXPECT_TRUE(close_to_ref(to_host(y_cuda), y_cpu.to(DType::f64).to_vector<double>(), tol, "y"));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    SCOPED_TRACE("gradient of input " + std::to_string(i));
    ASSERT_TRUE(cuda_inputs[i].grad().defined());
    EXPECT_TRUE(cuda_inputs[i].grad().is_cuda());
    EXPECT_TRUE(close_to_ref(to_host(cuda_inputs[i].grad()), cpu_inputs[i].grad().to(DType::f64).to_vector<double>(),
                             tol, "grad"));
  }
}

// Runs body once per CUDA conv variant (the default cuda_cudnn, then cuda_direct through --kernel overrides).
void for_each_cuda_conv_variant(const std::function<void()>& body) {
  for (const std::string v : {"cuda_cudnn", "cuda_direct"}) {
    SCOPED_TRACE("variant " + v);
    set_kernel_overrides("conv1d_dense=" + v + ",conv1d_depthwise=" + v + ",conv2d=" + v);
    body();
  }
  clear_kernel_overrides();
}

TEST(ConvCudaOp, Conv1dForwardBackwardMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for_each_cuda_conv_variant([] {
    for (const DType dt : {DType::f64, DType::f32}) {
      SCOPED_TRACE(dtype_name(dt));
      // Stem-like: k = 10, stride 5, bias.
      compare_op([](const std::vector<Tensor>& in) { return conv1d(in[0], in[1], in[2], conv1d_params(5, 0)); },
                 {randn_param({2, 3, 57}, 1, dt), randn_param({4, 3, 10}, 2, dt), randn_param({4}, 3, dt)},
                 tolerance(dt));
      // Causal depthwise k = 4 with left padding 3, bias, and a non-contiguous input (a transposed view).
      compare_op(
          [](const std::vector<Tensor>& in) {
            return conv1d(in[0].transpose(1, 2), in[1], in[2], Conv1dParams{1, 3, 0, 1, 6});
          },
          {randn_param({2, 19, 6}, 4, dt), randn_param({6, 1, 4}, 5, dt), randn_param({6}, 6, dt)}, tolerance(dt));
      // Grouped, dilated, asymmetric padding, no bias.
      compare_op(
          [](const std::vector<Tensor>& in) {
            return conv1d(in[0], in[1], Tensor(), {2, 1, 3, 2, 2});
          },
          {randn_param({2, 4, 23}, 7, dt), randn_param({6, 2, 3}, 8, dt)}, tolerance(dt));
    }
  });
}

TEST(ConvCudaOp, Conv2dForwardBackwardMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for_each_cuda_conv_variant([] {
    for (const DType dt : {DType::f64, DType::f32}) {
      SCOPED_TRACE(dtype_name(dt));
      Conv2dParams p;
      p.stride_h = 2, p.padding_h = 1, p.padding_w = 2, p.dilation_w = 2;
      compare_op([p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); },
                 {randn_param({2, 3, 9, 10}, 11, dt), randn_param({4, 3, 3, 3}, 12, dt), randn_param({4}, 13, dt)},
                 tolerance(dt));
    }
  });
}

TEST(ConvCudaOp, WeightNormAndPositionalConvMatchCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (const DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(dtype_name(dt));
    // weight_norm alone, over each dim.
    for (const int64_t dim : {0, 1, 2})
      compare_op([dim](const std::vector<Tensor>& in) { return weight_norm(in[0], in[1], dim); },
                 {randn_param({4, 3, 5}, 20 + dim, dt), randn_param(dim == 0   ? Shape{4, 1, 1}
                                                                    : dim == 1 ? Shape{1, 3, 1}
                                                                               : Shape{1, 1, 5},
                                                                    30 + dim, dt)},
                 tolerance(dt));
    // HuBERT's positional conv, shrunk: w = weight_norm(v, g, 2), even k, groups, padding k/2, bias.
    compare_op(
        [](const std::vector<Tensor>& in) {
          return conv1d(in[0], weight_norm(in[1], in[2], 2), in[3], conv1d_params(1, 4, 1, 4));
        },
        {randn_param({2, 8, 21}, 40, dt), randn_param({8, 2, 8}, 41, dt), randn_param({1, 1, 8}, 42, dt),
         randn_param({8}, 43, dt)},
        tolerance(dt));
  }
}

TEST(ConvCudaOp, Conv1dBf16MatchesCpuOnRoundedInputs) {
  HM_SKIP_WITHOUT_CUDA();
  for_each_cuda_conv_variant([] {
    // The CUDA op takes and returns bf16; the CPU reference runs in f64 on the bf16-rounded inputs.
    const auto dev_bf16 = [](const Shape& s, uint64_t seed) {
      return randn_param(s, seed).detach().to(Device::cuda()).to(DType::bf16);
    };
    const Tensor x = dev_bf16({2, 6, 33}, 50), w = dev_bf16({6, 1, 4}, 51), b = dev_bf16({6}, 52);
    const Conv1dParams p{1, 3, 0, 1, 6};
    const Tensor y = conv1d(x, w, b, p);
    EXPECT_EQ(y.dtype(), DType::bf16);
    EXPECT_TRUE(y.is_cuda());
    const auto host64 = [](const Tensor& t) { return t.to(DType::f64).to(Device::cpu()); };
    const Tensor y_ref = conv1d(host64(x), host64(w), host64(b), p);
    EXPECT_TRUE(close_to_ref(to_host(y), y_ref.to_vector<double>(), 2e-2, "y (bf16)"));
  });
}

TEST(ConvCudaOp, AutocastComputesInBf16AndReturnsF32) {
  HM_SKIP_WITHOUT_CUDA();
  // Inside AutocastGuard f32 CUDA inputs are cast to bf16; the output is f32 and the f32 weights get f32 gradients.
  const auto dev_f32 = [](const Shape& s, uint64_t seed) {
    Tensor t = randn_param(s, seed).detach().to(Device::cuda()).to(DType::f32);
    t.requires_grad_(true);
    return t;
  };
  const Tensor x = dev_f32({2, 4, 29}, 80), w = dev_f32({6, 4, 3}, 81), b = dev_f32({6}, 82);
  Tensor y;
  {
    AutocastGuard autocast(true);
    y = conv1d(x, w, b, conv1d_params(2, 1));
  }
  EXPECT_EQ(y.dtype(), DType::f32);
  sum(y).backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), DType::f32);
  EXPECT_TRUE(w.grad().is_cuda());
  const auto host64 = [](const Tensor& t) { return t.detach().to(DType::f64).to(Device::cpu()); };
  const Tensor y_ref = conv1d(host64(x), host64(w), host64(b), conv1d_params(2, 1));
  EXPECT_TRUE(close_to_ref(to_host(y), y_ref.to_vector<double>(), 2e-2, "y (autocast)"));
}

// ---- Bad input ----------------------------------------------------------------------------------------------------

TEST(ConvCudaOp, RejectsMixedDevicesAndDtypes) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = randn_param({1, 2, 9}, 60, DType::f32).detach().to(Device::cuda());
  const Tensor w = randn_param({3, 2, 3}, 61, DType::f32).detach();
  const Tensor b = randn_param({3}, 62, DType::f32).detach();
  EXPECT_TRUE(throws_with([&] { conv1d(x, w); }, "but w is on"));
  EXPECT_TRUE(throws_with([&] { conv1d(x, w.to(Device::cuda()), b); }, "but bias is on"));
  const Tensor x4 = randn_param({1, 2, 5, 5}, 63, DType::f32).detach().to(Device::cuda());
  EXPECT_TRUE(throws_with([&] { conv2d(x4, randn_param({3, 2, 3, 3}, 64, DType::f32).detach()); }, "but w is on"));
  EXPECT_TRUE(throws_with([&] { conv1d(x.to(DType::i32), w.to(Device::cuda()).to(DType::i32)); },
                          "expected a float32, float64 or bfloat16 x on cuda:0, got int32"));
  const Tensor v = randn_param({3, 2, 3}, 65, DType::f32).detach().to(Device::cuda());
  EXPECT_TRUE(throws_with([&] { weight_norm(v, randn_param({1, 1, 3}, 66, DType::f32).detach(), 2); }, "but g is on"));
  EXPECT_TRUE(throws_with(
      [&] {
        weight_norm(v.to(DType::bf16), empty({1, 1, 3}, DType::bf16, Device::cuda()), 2);
      },
      "expected a float32 or float64 v"));
}

TEST(ConvCudaOp, RejectsBf16OnCpu) {  // no GPU needed
  const Tensor x = empty({1, 2, 9}, DType::bf16), w = empty({3, 2, 3}, DType::bf16);
  EXPECT_TRUE(throws_with([&] { conv1d(x, w); }, "bfloat16 convolutions run on CUDA only"));
  EXPECT_TRUE(throws_with(
      [&] {
        conv2d(empty({1, 2, 4, 4}, DType::bf16), empty({3, 2, 3, 3}, DType::bf16));
      },
      "bfloat16 convolutions run on CUDA only"));
}

TEST(ConvCudaOp, TablesAreRegistered) {  // no GPU needed
#ifdef HUBMAMBA_WITH_CUDA
  for (const KernelTable<ConvCudaFns>* t :
       {&conv1d_dense_cuda_table(), &conv1d_depthwise_cuda_table(), &conv2d_cuda_table()}) {
    EXPECT_EQ(t->variants(), (std::vector<std::string>{"cuda_cudnn", "cuda_direct"})) << t->name();
    EXPECT_EQ(t->selected(), "cuda_cudnn") << t->name();
  }
  EXPECT_EQ(weight_norm_cuda_table().variants(), std::vector<std::string>{"cuda_direct"});
#else
  EXPECT_TRUE(conv1d_dense_cuda_table().variants().empty());
  EXPECT_TRUE(weight_norm_cuda_table().variants().empty());
#endif
}

}  // namespace
}  // namespace hm::test
