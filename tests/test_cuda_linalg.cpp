// CUDA GEMM, shape / index ops and cosine similarity (issue 8), in two tiers (DESIGN.md 6):
//  1. kernel conformance: every variant of gemm@cuda, index@cuda, index_add@cuda and cosine_similarity@cuda
//     against the CPU reference kernels on raw buffers (odd sizes, size 1 and 0, transposes, padded leading
//     dimensions, batches with broadcast operands; outputs NaN-poisoned so an unwritten element fails);
//  2. op level: forward and the gradient of every input of matmul / bmm / linear / embedding / gather /
//     index_select / cosine_similarity / cat / stack / pad on CUDA tensors against the same op on the CPU.
// Every GPU test starts with HM_SKIP_WITHOUT_CUDA(); registration and argument checks run everywhere.
#include <array>
#include <cmath>
#include <limits>

#include "cpu/gemm.h"
#include "cuda/blas.h"
#include "engine/autocast.h"
#include "ops/linear.h"
#include "ops/shape.h"
#include "ops/similarity.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

const Device kGpu = Device::cuda(0);
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> random_values(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return randn({std::max<int64_t>(n, 1)}, DType::f64, gen).to_vector<double>();
}

// Host values -> a (n,) tensor of dtype dt on the GPU, and the values it really holds (rounded to dt) on the host.
// The conversion runs on the device: the CPU has no bf16 arithmetic (its copies refuse bf16).
std::pair<Tensor, std::vector<double>> upload(const std::vector<double>& v, DType dt) {
  const Tensor dev = from_doubles(v, {int64_t(v.size())}, DType::f64).to(kGpu).to(dt);
  return {dev, dev.to(DType::f64).to_vector<double>()};
}

// Element values of a tensor (any dtype, any device) as doubles, converted on the tensor's device.
std::vector<double> download(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

std::vector<int64_t> random_indices(int64_t n, int64_t bound, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& x : v) x = int64_t(gen.next_below(uint64_t(bound)));
  return v;
}

// The f32 or f64 member of a two-dtype table entry.
template <class T, class Kernels>
auto for_type(const Kernels& k) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return k.f32;
  } else {
    return k.f64;
  }
}

// ---- registration (runs everywhere) -------------------------------------------------------------------------

TEST(CudaLinalg, TablesHoldTheCudaVariantsOnlyInCudaBuilds) {
#ifdef HUBMAMBA_WITH_CUDA
  EXPECT_EQ(gemm_cuda_table().variants(), (std::vector<std::string>{"cuda_cublas", "cuda_cublaslt"}));
  EXPECT_EQ(index_cuda_table().variants(), (std::vector<std::string>{"cuda_simple"}));
  EXPECT_EQ(index_cuda_table().selected(), "cuda_simple");
  EXPECT_EQ(index_add_cuda_table().variants(), (std::vector<std::string>{"cuda_atomic", "cuda_ordered"}));
  EXPECT_EQ(cosine_cuda_table().variants(), (std::vector<std::string>{"cuda_rows"}));
  EXPECT_EQ(gemm_cuda_table().selected(), "cuda_cublas");
  EXPECT_EQ(index_add_cuda_table().selected(), "cuda_atomic");
#else
  EXPECT_TRUE(gemm_cuda_table().variants().empty());
  EXPECT_TRUE(index_cuda_table().variants().empty());
  EXPECT_TRUE(index_add_cuda_table().variants().empty());
  EXPECT_TRUE(cosine_cuda_table().variants().empty());
#endif
  EXPECT_EQ(gemm_cuda_table().name(), "gemm@cuda");
  EXPECT_EQ(index_add_cuda_table().name(), "index_add@cuda");
  // The CPU twins hold the reference every CUDA variant is checked against.
  const std::vector<const KernelTableBase*> cpu_twins = {&index_table(), &index_add_table(), &cosine_table()};
  for (const KernelTableBase* t : cpu_twins)
    EXPECT_EQ(t->variants(), (std::vector<std::string>{"scalar"})) << t->name();
}

TEST(CudaLinalg, Bf16IsRejectedOnTheCpu) {
  const Tensor a = zeros({2, 2}, DType::bf16);
  EXPECT_TRUE(throws_with([&] { matmul(a, a); }, "bfloat16 runs on CUDA only"));
  EXPECT_TRUE(throws_with([&] { linear(a, a); }, "bfloat16 runs on CUDA only"));
}

// ---- gemm@cuda conformance ------------------------------------------------------------------------------------

struct CudaGemmCase {
  int64_t M, N, K;
  bool ta, tb;
  int64_t pad, batch;
  bool bcast_a, bcast_b;  // stride 0 over the batch
  double alpha, beta;
};

std::vector<CudaGemmCase> cuda_gemm_cases() {
  std::vector<CudaGemmCase> cases;
  const int64_t sizes[] = {1, 2, 3, 7, 17, 33, 65, 130};
  const double alphas[] = {1.0, 0.5, -2.0}, betas[] = {0.0, 1.0, 0.25};
  Generator gen(11);
  for (int i = 0; i < 40; ++i) {
    const int64_t batch = i % 4 == 3 ? 3 : 1;
    cases.push_back({sizes[gen.next_below(8)], sizes[gen.next_below(8)], sizes[gen.next_below(8)], (i & 1) != 0,
                     (i & 2) != 0, (i & 4) ? 3 : 0, batch, batch > 1 && i % 8 == 3, batch > 1 && i % 16 == 7,
                     alphas[gen.next_below(3)], betas[i % 3]});
  }
  cases.push_back({3, 4, 0, false, false, 1, 1, false, false, 1.0, 0.0});  // empty sum: C = 0 over NaN
  cases.push_back({3, 4, 0, true, true, 0, 2, false, false, 1.0, 0.5});    // empty sum: C = beta C, batched
  cases.push_back({1, 1, 1, false, false, 0, 1, false, false, 1.0, 0.0});
  cases.push_back({128, 256, 64, false, true, 0, 2, false, false, 1.0, 0.0});  // tile multiples
  cases.push_back({5, 3, 1000, true, false, 0, 1, false, false, 1.0, 0.0});    // long reduction
  cases.push_back({0, 4, 3, false, false, 0, 2, false, false, 1.0, 0.0});      // empty output
  return cases;
}

// Runs variant k on case c in dtype dt (f32, f64, bf16) and compares with the CPU table's scalar gemm (f64) on the
// values the device really holds. Bound per element: 4 (K + 2) u (|alpha| |A||B| + |beta| |C|) with u the accumulation
// unit roundoff, plus 2^-8 for bf16's output rounding (2^-9) or TF32's input rounding (up to 2^-10 per product).
void check_cuda_gemm(const GemmCudaKernels& k, DType dt, const CudaGemmCase& c, uint64_t seed, bool tf32) {
  SCOPED_TRACE(cat("M=", c.M, " N=", c.N, " K=", c.K, " ta=", c.ta, " tb=", c.tb, " pad=", c.pad, " batch=", c.batch,
                   " bcast=", c.bcast_a, c.bcast_b, " alpha=", c.alpha, " beta=", c.beta, " ", dt,
                   tf32 ? " tf32" : ""));
  const int64_t ra = c.ta ? c.K : c.M, ca = c.ta ? c.M : c.K, rb = c.tb ? c.N : c.K, cb = c.tb ? c.K : c.N;
  const int64_t lda = std::max<int64_t>(ca, 1) + c.pad, ldb = std::max<int64_t>(cb, 1) + c.pad;
  const int64_t ldc = std::max<int64_t>(c.N, 1) + c.pad;
  const int64_t sa = c.bcast_a ? 0 : ra * lda, sb = c.bcast_b ? 0 : rb * ldb, sc = c.M * ldc;
  auto matrices = [&](int64_t rows, int64_t cols, int64_t ld, int64_t count, uint64_t s) {
    std::vector<double> v = random_values(std::max<int64_t>(1, count * rows * ld), s);
    for (int64_t i = 0; i < count * rows; ++i)
      for (int64_t j = cols; j < ld; ++j) v[size_t(i * ld + j)] = kNaN;  // padding
    return v;
  };
  auto [A, a_host] = upload(matrices(ra, ca, lda, c.bcast_a ? 1 : c.batch, seed), dt);
  auto [B, b_host] = upload(matrices(rb, cb, ldb, c.bcast_b ? 1 : c.batch, seed + 1), dt);
  std::vector<double> c0 = matrices(c.M, c.N, ldc, c.batch, seed + 2);
  if (c.beta == 0) std::fill(c0.begin(), c0.end(), kNaN);  // write-only: poison everything
  auto [C, c_host] = upload(c0, dt);

  switch (dt) {
    case DType::f32:
      k.f32(c.ta, c.tb, c.M, c.N, c.K, float(c.alpha), A.device_data<float>(), lda, sa, B.device_data<float>(), ldb, sb,
            float(c.beta), C.device_data<float>(), ldc, sc, c.batch);
      break;
    case DType::f64:
      k.f64(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.device_data<double>(), lda, sa, B.device_data<double>(), ldb, sb,
            c.beta, C.device_data<double>(), ldc, sc, c.batch);
      break;
    default:
      k.bf16(c.ta, c.tb, c.M, c.N, c.K, float(c.alpha), A.device_data<uint16_t>(), lda, sa, B.device_data<uint16_t>(),
             ldb, sb, float(c.beta), C.device_data<uint16_t>(), ldc, sc, c.batch);
  }
  const std::vector<double> got = download(C);
  std::vector<double> want = c_host, mag = c_host;
  for (double& m : mag) m = c.beta == 0 ? 0.0 : std::abs(m);
  std::vector<double> abs_a = a_host, abs_b = b_host;
  for (double& x : abs_a) x = std::abs(x);
  for (double& x : abs_b) x = std::abs(x);
  const cpu::GemmFn<double> ref = gemm_table().get("scalar").f64;
  for (int64_t i = 0; i < c.batch; ++i) {
    ref(c.ta, c.tb, c.M, c.N, c.K, c.alpha, a_host.data() + i * sa, lda, b_host.data() + i * sb, ldb, c.beta,
        want.data() + i * sc, ldc);
    ref(c.ta, c.tb, c.M, c.N, c.K, std::abs(c.alpha), abs_a.data() + i * sa, lda, abs_b.data() + i * sb, ldb,
        std::abs(c.beta), mag.data() + i * sc, ldc);
  }
  const double u = dt == DType::f64 ? std::ldexp(1.0, -53) : std::ldexp(1.0, -24);
  const double extra = dt == DType::bf16 || tf32 ? std::ldexp(1.0, -8) : 0.0;
  for (int64_t e = 0; e < c.batch * c.M * ldc; ++e) {
    const int64_t j = e % ldc;
    if (j >= c.N) {
      ASSERT_TRUE(std::isnan(got[e])) << "wrote into the padding of C at element " << e;
      continue;
    }
    const double tol = (4.0 * double(c.K + 2) * u + extra) * mag[e] + 1e-30;
    ASSERT_TRUE(std::isfinite(got[e])) << "element " << e << " (row " << (e / ldc) << ", col " << j << ") is "
                                       << got[e];
    ASSERT_NEAR(got[e], want[e], tol) << "element " << e << " (row " << (e / ldc) << ", col " << j << ")";
  }
}

TEST(CudaGemmConformance, EveryVariantMatchesTheCpuScalarGemm) {
  // conformance: gemm@cuda (f32 exact math, f64, bf16 with f32 accumulation; strided batches with broadcasts)
  HM_SKIP_WITHOUT_CUDA();
  check_all_variants(gemm_cuda_table(), [&](const std::string&, const GemmCudaKernels& k) {
    uint64_t seed = 500;
    for (const CudaGemmCase& c : cuda_gemm_cases()) {
      for (DType dt : {DType::f32, DType::f64, DType::bf16}) check_cuda_gemm(k, dt, c, seed, false);
      seed += 3;
    }
  });
}

#ifdef HUBMAMBA_WITH_CUDA
TEST(CudaGemmConformance, Tf32IsOptInAndStaysWithinItsRounding) {
  // conformance: gemm@cuda with TF32 tensor-core math (hm::cuda::set_allow_tf32).
  HM_SKIP_WITHOUT_CUDA();
  ASSERT_FALSE(cuda::allow_tf32()) << "TF32 must be off by default (HUBMAMBA_TF32 unset)";
  cuda::set_allow_tf32(true);
  check_all_variants(gemm_cuda_table(), [&](const std::string&, const GemmCudaKernels& k) {
    check_cuda_gemm(k, DType::f32, {130, 65, 257, false, true, 0, 1, false, false, 1.0, 0.0}, 91, true);
    check_cuda_gemm(k, DType::f32, {33, 17, 64, true, false, 3, 3, true, false, 0.5, 1.0}, 92, true);
  });
  cuda::set_allow_tf32(false);
}
#endif

// ---- op level: CUDA vs CPU --------------------------------------------------------------------------------

// Runs f on CPU leaves and on CUDA copies of them, backpropagates the same random upstream gradient, and compares
// the output and the gradient of every floating input. Index inputs (integer tensors) are passed through.
void expect_gpu_matches_cpu(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                            const std::vector<Tensor>& inputs, double atol, double rtol) {
  SCOPED_TRACE(what);
  std::vector<Tensor> on_cpu, on_gpu;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone(), g = t.detach().to(kGpu);
    if (is_floating(t.dtype())) c.requires_grad_(true), g.requires_grad_(true);
    on_cpu.push_back(c), on_gpu.push_back(g);
  }
  const Tensor yc = f(on_cpu), yg = f(on_gpu);
  ASSERT_TRUE(yg.is_cuda()) << "the result is not on the GPU";
  EXPECT_TRUE(all_close(yg, yc, atol, rtol)) << "forward";
  Generator gen(4242);
  const Tensor w = randn(yc.shape(), DType::f64, gen).to(yc.dtype());
  yc.backward(w);
  yg.backward(w.to(kGpu));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!is_floating(inputs[i].dtype())) continue;
    ASSERT_TRUE(on_gpu[i].grad().defined()) << "no gradient for input " << i;
    EXPECT_TRUE(on_gpu[i].grad().is_cuda()) << "gradient of input " << i << " is not on the GPU";
    EXPECT_TRUE(all_close(on_gpu[i].grad(), on_cpu[i].grad(), atol, rtol)) << "gradient of input " << i;
  }
}

// f32 / f64 tolerances for GEMM-sized sums of N(0, 1) products (K <= ~70 here).
double atol_for(DType dt) { return dt == DType::f64 ? 1e-11 : 2e-5; }
double rtol_for(DType dt) { return dt == DType::f64 ? 1e-11 : 2e-5; }

Tensor rnd(const Shape& s, uint64_t seed, DType dt) { return randn_param(s, seed, dt).detach(); }

TEST(CudaMatmul, ForwardAndBackwardMatchCpuOnEveryShape) {
  HM_SKIP_WITHOUT_CUDA();
  using F = std::function<Tensor(const std::vector<Tensor>&)>;
  const F mm = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); };
  for (DType dt : {DType::f32, DType::f64}) {
    const double at = atol_for(dt), rt = rtol_for(dt);
    const std::vector<std::pair<Shape, Shape>> shapes = {{{5, 7}, {7, 3}},
                                                         {{7}, {7}},
                                                         {{7}, {7, 3}},
                                                         {{5, 7}, {7}},
                                                         {{2, 5, 7}, {7, 3}},
                                                         {{2, 5, 7}, {2, 7, 3}},
                                                         {{2, 1, 5, 7}, {3, 7, 3}},
                                                         {{4, 7}, {2, 3, 7, 5}},
                                                         {{1, 5, 7}, {4, 7, 3}},
                                                         {{0, 7}, {7, 3}},
                                                         {{5, 0}, {0, 3}},
                                                         {{3, 1, 1}, {1, 1}}};
    uint64_t seed = 10;
    for (const auto& [sa, sb] : shapes) {
      expect_gpu_matches_cpu(cat("matmul ", Shape(sa), " @ ", Shape(sb), " ", dt), mm,
                             {rnd(sa, seed, dt), rnd(sb, seed + 1, dt)}, at, rt);
      seed += 2;
    }
    // Views: transposed matrices (transpose flags), a permuted batch (strided batch, no fold), a flipped batch
    // (negative batch stride: materialised) and an expanded operand (stride 0).
    const Tensor at_ = rnd({7, 5}, 40, dt), bt = rnd({3, 7}, 41, dt), a3 = rnd({5, 3, 7}, 42, dt),
                 b3 = rnd({3, 7, 4}, 43, dt);
    expect_gpu_matches_cpu(
        cat("matmul transposed views ", dt),
        [](const std::vector<Tensor>& x) { return matmul(x[0].transpose(0, 1), x[1].transpose(0, 1)); }, {at_, bt}, at,
        rt);
    expect_gpu_matches_cpu(
        cat("matmul permuted batch ", dt),
        [](const std::vector<Tensor>& x) { return matmul(x[0].transpose(0, 1), x[1]); }, {a3, b3}, at, rt);
    expect_gpu_matches_cpu(
        cat("matmul flipped batch ", dt), [](const std::vector<Tensor>& x) { return matmul(x[0].flip({0}), x[1]); },
        {b3.transpose(1, 2).contiguous(), rnd({7, 2}, 44, dt)}, at, rt);
    expect_gpu_matches_cpu(
        cat("matmul expanded ", dt),
        [](const std::vector<Tensor>& x) {
          return matmul(x[0].expand({3, 5, 7}), x[1]);
        },
        {rnd({1, 5, 7}, 45, dt), b3}, at, rt);
    expect_gpu_matches_cpu(
        cat("bmm ", dt), [](const std::vector<Tensor>& x) { return bmm(x[0], x[1]); }, {rnd({3, 5, 7}, 46, dt), b3}, at,
        rt);
  }
}

TEST(CudaLinear, ForwardAndBackwardMatchCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::f32, DType::f64}) {
    const double at = atol_for(dt), rt = rtol_for(dt);
    const Tensor w = rnd({5, 7}, 60, dt), b = rnd({5}, 61, dt);
    expect_gpu_matches_cpu(
        cat("linear 3-D with bias ", dt), [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
        {rnd({2, 3, 7}, 62, dt), w, b}, at, rt);
    expect_gpu_matches_cpu(
        cat("linear without bias ", dt), [](const std::vector<Tensor>& x) { return linear(x[0], x[1]); },
        {rnd({4, 7}, 63, dt), w}, at, rt);
    expect_gpu_matches_cpu(
        cat("linear transposed input and weight ", dt),
        [](const std::vector<Tensor>& x) { return linear(x[0].transpose(0, 1), x[1].transpose(0, 1), x[2]); },
        {rnd({7, 4}, 64, dt), rnd({7, 5}, 65, dt), b}, at, rt);
    expect_gpu_matches_cpu(
        cat("linear 1-D input ", dt), [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
        {rnd({7}, 66, dt), w, b}, at, rt);
    expect_gpu_matches_cpu(
        cat("linear 300 rows (bias-gradient blocks) ", dt),
        [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
        {rnd({300, 7}, 67, dt), rnd({40, 7}, 68, dt), rnd({40}, 69, dt)}, at * 10, rt);
  }
}

TEST(CudaLinalgBf16, MatmulAndLinearFollowTheF32ResultOfTheRoundedInputs) {
  HM_SKIP_WITHOUT_CUDA();
  // The CPU reference runs in f32 on the bf16-rounded inputs; the GPU rounds the output (and the gradients) to
  // bf16 after an f32 accumulation: 2^-8 relative to the largest element plus the rounding of each output.
  // bf16 tensors are made and read on the device (the CPU has no bf16 arithmetic).
  auto bf16_on_gpu = [](const Shape& s, uint64_t seed) { return rnd(s, seed, DType::f32).to(kGpu).to(DType::bf16); };
  auto rounded_cpu = [](const Tensor& t) { return t.detach().to(DType::f32).cpu(); };  // bf16 values, f32 host leaf
  const Tensor a = bf16_on_gpu({33, 65}, 80), b = bf16_on_gpu({65, 17}, 81), bias = bf16_on_gpu({17}, 82);
  const Tensor got = matmul(a, b);
  ASSERT_EQ(got.dtype(), DType::bf16);
  const double scale = std::sqrt(65.0);
  EXPECT_TRUE(all_close(got.to(DType::f32), matmul(rounded_cpu(a), rounded_cpu(b)), 2e-2 * scale, 1e-2));
  // linear backward in bf16: gradients of x, W, b against f32 on the rounded values.
  Tensor x = a.detach(), w = b.transpose(0, 1).contiguous(), bg = bias.detach();
  x.requires_grad_(true), w.requires_grad_(true), bg.requires_grad_(true);
  Tensor xc = rounded_cpu(a), wc = rounded_cpu(w), bc = rounded_cpu(bias);
  xc.requires_grad_(true), wc.requires_grad_(true), bc.requires_grad_(true);
  const Tensor yg = linear(x, w, bg), yc = linear(xc, wc, bc);
  EXPECT_TRUE(all_close(yg.to(DType::f32), yc, 2e-2 * scale, 1e-2));
  const Tensor up = bf16_on_gpu({33, 17}, 83);
  yg.backward(up);
  yc.backward(rounded_cpu(up));
  EXPECT_TRUE(all_close(x.grad().to(DType::f32), xc.grad(), 2e-2 * std::sqrt(17.0), 1e-2)) << "dx";
  EXPECT_TRUE(all_close(w.grad().to(DType::f32), wc.grad(), 2e-2 * std::sqrt(33.0), 1e-2)) << "dW";
  EXPECT_TRUE(all_close(bg.grad().to(DType::f32), bc.grad(), 2e-2 * std::sqrt(33.0), 1e-2)) << "db";
}

TEST(CudaLinalgBf16, AutocastRunsMatmulAndLinearInBf16AndReturnsF32) {
  HM_SKIP_WITHOUT_CUDA();
  Tensor x = rnd({2, 9, 65}, 84, DType::f32).to(kGpu), w = rnd({17, 65}, 85, DType::f32).to(kGpu);
  Tensor b = rnd({17}, 86, DType::f32).to(kGpu);
  x.requires_grad_(true), w.requires_grad_(true), b.requires_grad_(true);
  const Tensor ref = linear(x.detach(), w.detach(), b.detach());  // f32 outside the guard
  Tensor y, z;
  {
    AutocastGuard bf16(true);
    y = linear(x, w, b);
    z = matmul(x, w.transpose(0, 1));
  }
  ASSERT_EQ(y.dtype(), DType::f32);
  ASSERT_EQ(z.dtype(), DType::f32);
  EXPECT_TRUE(all_close(y, ref, 2e-2 * std::sqrt(65.0), 1e-2));
  EXPECT_FALSE(all_close(y, ref, 1e-6, 1e-6)) << "autocast did not change the precision";
  y.backward(full(y.shape(), 1.0, DType::f32, kGpu));
  for (const Tensor* p : {&x, &w, &b}) {
    ASSERT_TRUE(p->grad().defined());
    EXPECT_EQ(p->grad().dtype(), DType::f32);  // master weights stay f32
  }
  EXPECT_TRUE(all_close(b.grad(), full({17}, 18.0, DType::f32), 0.2, 0)) << "db = rows summed in bf16";
}

TEST(CudaLinalg, MixedDevicesAndBadDtypesAreErrors) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor a = zeros({2, 3}), g = a.to(kGpu);
  EXPECT_TRUE(throws_with([&] { matmul(g, a.transpose(0, 1)); }, "matmul: operands on different devices"));
  EXPECT_TRUE(throws_with([&] { bmm(g.unsqueeze(0), a.transpose(0, 1).unsqueeze(0)); }, "different devices"));
  EXPECT_TRUE(throws_with([&] { linear(g, a); }, "but weight on"));
  EXPECT_TRUE(throws_with([&] { linear(g, g, zeros({2})); }, "but bias on"));
  EXPECT_TRUE(throws_with([&] { matmul(g.to(DType::i32), g.to(DType::i32).transpose(0, 1)); }, "expected float32"));
  EXPECT_TRUE(throws_with([&] { embedding(g, zeros({2}, DType::i64)); }, "but index"));
  EXPECT_TRUE(throws_with([&] { embedding(g, zeros({2}, DType::f32, kGpu)); }, "int32 or int64"));
  EXPECT_TRUE(throws_with([&] { index_select(g, 0, full({1}, 2, DType::i64, kGpu)); }, "index 2 out of range"));
  EXPECT_TRUE(throws_with([&] { gather(g, 1, full({2, 3}, -1, DType::i32, kGpu)); }, "index -1 out of range"));
  EXPECT_TRUE(throws_with([&] { cosine_similarity(g, a, 1); }, "cosine_similarity:"));
  EXPECT_TRUE(throws_with([&] { cat({g, a}, 0); }, "cat:"));
}

// ---- index ops ----------------------------------------------------------------------------------------------

TEST(CudaShapeOps, EmbeddingGatherIndexSelectMatchCpuWithBothBackwardVariants) {
  HM_SKIP_WITHOUT_CUDA();
  for (const char* variant : {"cuda_atomic", "cuda_ordered"}) {
    set_kernel_overrides(std::string("index_add=") + variant);
    for (DType dt : {DType::f32, DType::f64}) {
      // The ordered variant adds in the CPU kernel's order: its gradients are bit-identical.
      const bool exact = std::string(variant) == "cuda_ordered";
      const double at = exact ? 0.0 : atol_for(dt), rt = exact ? 0.0 : rtol_for(dt);
      const Tensor idx = from_vector(random_indices(12, 11, 1), {3, 4});  // repeats: V = 11, 12 draws
      expect_gpu_matches_cpu(
          cat("embedding ", variant, " ", dt), [](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); },
          {rnd({11, 6}, 90, dt), idx}, at, rt);
      expect_gpu_matches_cpu(
          cat("embedding int32 ", variant, " ", dt), [](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); },
          {rnd({11, 33}, 91, dt), idx.to(DType::i32)}, at, rt);
      const Tensor t = rnd({4, 5, 6}, 92, dt);
      for (int64_t d = 0; d < 3; ++d) {
        Shape is = {4, 3, 6};
        is[size_t(d)] = 7;  // longer than the dim: repeated indices
        if (d != 1) is[1] = 3;
        const Tensor gi = from_vector(random_indices(shape_numel(is), t.size(d), 2 + uint64_t(d)), is);
        expect_gpu_matches_cpu(
            cat("gather dim ", d, " ", variant, " ", dt),
            [d](const std::vector<Tensor>& x) { return gather(x[0], d, x[1]); }, {t, gi}, at, rt);
        const Tensor si = from_vector(random_indices(9, t.size(d), 7 + uint64_t(d)), {9});
        expect_gpu_matches_cpu(
            cat("index_select dim ", d, " ", variant, " ", dt),
            [d](const std::vector<Tensor>& x) { return index_select(x[0], d, x[1]); }, {t, si}, at, rt);
      }
      expect_gpu_matches_cpu(
          cat("gather of a transposed input ", variant, " ", dt),
          [](const std::vector<Tensor>& x) { return gather(x[0].transpose(0, 2), 1, x[1]); },
          {t, from_vector(random_indices(6 * 5 * 4, 5, 20), {6, 5, 4})}, at, rt);
    }
  }
  clear_kernel_overrides();
  // Forward moves raw elements: bf16 and integer tables work on the GPU (the CPU lacks bf16 here).
  const Tensor w16 = rnd({11, 6}, 93, DType::f32).to(kGpu).to(DType::bf16);
  const Tensor idx = from_vector(std::vector<int64_t>{3, 0, 10, 3}, {4});
  EXPECT_TRUE(all_close(embedding(w16, idx.to(kGpu)).to(DType::f32), embedding(w16.to(DType::f32).cpu(), idx), 0, 0));
  const Tensor wi = arange(66, DType::i64).reshape({11, 6});
  EXPECT_EQ(embedding(wi.to(kGpu), idx.to(kGpu)).to_vector<int64_t>(), embedding(wi, idx).to_vector<int64_t>());
}

TEST(CudaShapeOps, CatStackPadMatchCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor a = rnd({2, 3, 4}, 100, dt), b = rnd({2, 1, 4}, 101, dt);
    expect_gpu_matches_cpu(
        cat("cat ", dt),
        [](const std::vector<Tensor>& x) {
          return cat({x[0], x[1], x[0]}, 1);
        },
        {a, b}, 0, 0);
    expect_gpu_matches_cpu(
        cat("cat of transposed ", dt),
        [](const std::vector<Tensor>& x) {
          return cat({x[0].transpose(0, 2), x[1].transpose(0, 2)}, 1);
        },
        {a, b}, 0, 0);
    expect_gpu_matches_cpu(
        cat("stack ", dt),
        [](const std::vector<Tensor>& x) {
          return stack({x[0], x[1]}, 2);
        },
        {a, rnd({2, 3, 4}, 102, dt)}, 0, 0);
    expect_gpu_matches_cpu(
        cat("pad ", dt),
        [](const std::vector<Tensor>& x) {
          return pad(x[0], {1, 2, -1, 0}, 0.5);
        },
        {a}, 0, 0);
    expect_gpu_matches_cpu(
        cat("pad cropping everything ", dt),
        [](const std::vector<Tensor>& x) {
          return pad(x[0], {-4, 1});
        },
        {a}, 0, 0);
  }
}

// ---- index@cuda / index_add@cuda conformance against the CPU tables' scalar variants ----------------------------

TEST(CudaIndexConformance, ForwardKernelsMoveExactlyTheCpuElements) {
  // conformance: index@cuda (every element size; strided gather source; the index check)
  HM_SKIP_WITHOUT_CUDA();
  const IndexKernels ref = index_table().get("scalar");
  check_all_variants(index_cuda_table(), [&](const std::string&, const IndexKernels& k) {
    // select_rows for every element size on byte buffers (the kernels only move bits, so bf16 / f16 are the
    // 2-byte case), poisoned output, compared byte for byte.
    struct Rows {
      int64_t outer, N, inner, n;
    };
    for (const Rows& r : {Rows{1, 1, 1, 1}, Rows{1, 11, 6, 7}, Rows{3, 5, 1, 9}, Rows{2, 7, 33, 0}, Rows{4, 3, 17, 5}})
      for (int64_t bytes : {1, 2, 4, 8}) {
        SCOPED_TRACE(cat("select_rows outer=", r.outer, " N=", r.N, " inner=", r.inner, " n=", r.n, " bytes=", bytes));
        const std::vector<int64_t> noise = random_indices(r.outer * r.N * r.inner * bytes, 256, uint64_t(r.N + bytes));
        const Tensor src = from_vector(noise, {int64_t(noise.size())}).to(DType::u8);  // host bytes
        const std::vector<int64_t> index = random_indices(r.n, r.N, uint64_t(r.inner));
        const Tensor want = full({std::max<int64_t>(1, r.outer * r.n * r.inner * bytes)}, 7, DType::u8);  // 7: poison
        const Tensor got = want.to(kGpu);
        ref.select_rows(src.raw_data(), bytes, r.outer, r.N, r.inner, index.data(), r.n, want.raw_data());
        k.select_rows(src.to(kGpu).device_raw_data(), bytes, r.outer, r.N, r.inner,
                      from_vector(index, {r.n}).to(kGpu).device_data<int64_t>(), r.n, got.device_raw_data());
        EXPECT_EQ(got.to_vector<uint8_t>(), want.to_vector<uint8_t>());
      }
    // gather_dim with a transposed (strided) source, every dim.
    const Tensor base = from_doubles(random_values(4 * 5 * 6, 3), {6, 5, 4}, DType::f32);
    const Tensor host = base.transpose(0, 2);             // (4, 5, 6), strides (1, 4, 20)
    const Tensor dev = base.to(kGpu).transpose(0, 2);  // the same strides on the GPU (to(Device) makes contiguous copies)
    ASSERT_EQ(dev.strides(), host.strides());
    for (int64_t d = 0; d < 3; ++d) {
      SCOPED_TRACE(cat("gather_dim dim ", d));
      const Shape is = {3, 5, 2};
      const std::vector<int64_t> index = random_indices(shape_numel(is), host.size(d), uint64_t(40 + d));
      const Tensor want = full(is, kNaN, DType::f32), got = want.to(kGpu);
      ref.gather_dim(host.raw_data(), 4, host.strides().data(), index.data(), is.data(), 3, d, want.raw_data());
      k.gather_dim(dev.device_raw_data(), 4, dev.strides().data(),
                   from_vector(index, is).to(kGpu).device_data<int64_t>(), is.data(), 3, d, got.device_raw_data());
      EXPECT_EQ(got.to_vector<float>(), want.to_vector<float>());
    }
    // first_out_of_range: the first bad position, -1 when all are valid or there are none.
    const std::vector<int64_t> index = {0, 4, 5, -1, 9};
    const Tensor idx = from_vector(index, {5}).to(kGpu);
    for (auto [count, n] : {std::pair<int64_t, int64_t>{5, 5}, {5, 10}, {2, 5}, {0, 5}})
      EXPECT_EQ(k.first_out_of_range(idx.device_data<int64_t>(), count, n),
                ref.first_out_of_range(index.data(), count, n))
          << "count " << count << " n " << n;
  });
}

TEST(CudaIndexConformance, ScatterAddsMatchTheCpuKernels) {
  // conformance: index_add@cuda (repeated indices; cuda_ordered must be bit-identical to the CPU)
  HM_SKIP_WITHOUT_CUDA();
  const IndexAddKernels ref_all = index_add_table().get("scalar");
  check_all_variants(index_add_cuda_table(), [&](const std::string& name, const IndexAddKernels& k) {
    const bool exact = name == "cuda_ordered";
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const IndexAddFns<T> f = for_type<T>(k), ref = for_type<T>(ref_all);
      const DType dt = dtype_of<T>::value;
      const double tol = exact ? 0.0 : sizeof(T) == 4 ? 1e-5 : 1e-12;
      SCOPED_TRACE(cat(dt));
      // add_rows: (outer, n, inner) onto (outer, N, inner), 13 draws from N = 4 rows.
      const int64_t outer = 3, N = 4, inner = 33, n = 13;
      const std::vector<int64_t> index = random_indices(n, N, 5);
      const Tensor go = from_doubles(random_values(outer * n * inner, 6), {outer * n * inner}, dt);
      const Tensor want = from_doubles(random_values(outer * N * inner, 7), {outer * N * inner}, dt),
                   got = want.to(kGpu);  // accumulates onto random values
      ref.add_rows(want.data<T>(), outer, N, inner, index.data(), n, go.data<T>());
      f.add_rows(got.device_data<T>(), outer, N, inner, from_vector(index, {n}).to(kGpu).device_data<int64_t>(), n,
                 go.to(kGpu).device_data<T>());
      EXPECT_TRUE(all_close(got, want, tol, tol)) << "add_rows";
      // scatter_add along each dim of a (4, 5, 6) gradient; the index is longer than the dim (repeats).
      for (int64_t d = 0; d < 3; ++d) {
        const Shape ds = {4, 5, 6};
        Shape is = {3, 4, 2};
        is[size_t(d)] = 7;
        const std::vector<int64_t> si = random_indices(shape_numel(is), ds[size_t(d)], uint64_t(8 + d));
        const Tensor src = from_doubles(random_values(shape_numel(is), uint64_t(9 + d)), is, dt);
        const Tensor want_s = zeros(ds, dt), got_s = zeros(ds, dt, kGpu);
        ref.scatter_add(want_s.data<T>(), want_s.strides().data(), si.data(), is.data(), 3, d, src.data<T>());
        f.scatter_add(got_s.device_data<T>(), got_s.strides().data(),
                      from_vector(si, is).to(kGpu).device_data<int64_t>(), is.data(), 3, d,
                      src.to(kGpu).device_data<T>());
        EXPECT_TRUE(all_close(got_s, want_s, tol, tol)) << "scatter_add dim " << d;
      }
    };
    run(float{});
    run(double{});
  });
}

// ---- cosine_similarity@cuda conformance ---------------------------------------------------------------------

TEST(CudaCosineConformance, EveryKernelMatchesTheCpuScalarVariant) {
  // conformance: cosine_similarity@cuda (norms with a zero row, pairs, pairs backward, outer layout fwd / bwd)
  HM_SKIP_WITHOUT_CUDA();
  const CosineKernels ref_all = cosine_table().get("scalar");
  check_all_variants(cosine_cuda_table(), [&](const std::string&, const CosineKernels& k) {
    auto run = [&](auto tag, int64_t Ra, int64_t Rb, int64_t D, int64_t O) {
      using T = decltype(tag);
      const CosineFns<T> f = for_type<T>(k), ref = for_type<T>(ref_all);
      const DType dt = dtype_of<T>::value;
      SCOPED_TRACE(cat(dt, " Ra=", Ra, " Rb=", Rb, " D=", D, " O=", O));
      // Tolerance relative to the largest reference element: f32 sums of D products, and the zero row's 1/eps.
      auto expect_close = [&](const Tensor& got, const Tensor& want, const char* what) {
        double mag = 0;
        for (double x : want.to_vector<double>()) mag = std::max(mag, std::abs(x));
        EXPECT_TRUE(all_close(got, want, (sizeof(T) == 4 ? 1e-5 : 1e-12) * (1 + mag), 0)) << what;
      };
      std::vector<double> av = random_values(Ra * D, uint64_t(Ra + D));
      if (Ra > 2) std::fill(av.begin() + 2 * D, av.begin() + 3 * D, 0.0);  // a zero row: norm clamped to eps
      const Tensor A = from_doubles(av, {Ra, D}, dt), B = rnd({Rb, D}, uint64_t(Rb + 3), dt);
      const Tensor A_d = A.to(kGpu), B_d = B.to(kGpu);
      const T eps = T(1e-8);
      // Norms.
      const Tensor na = empty({Ra}, dt), nb = empty({Rb}, dt), na_d = full({Ra}, kNaN, dt, kGpu),
                   nb_d = full({Rb}, kNaN, dt, kGpu);
      ref.row_norms(A.data<T>(), Ra, D, eps, na.data<T>());
      ref.row_norms(B.data<T>(), Rb, D, eps, nb.data<T>());
      f.row_norms(A_d.device_data<T>(), Ra, D, eps, na_d.device_data<T>());
      f.row_norms(B_d.device_data<T>(), Rb, D, eps, nb_d.device_data<T>());
      expect_close(na_d, na, "row_norms A");
      expect_close(nb_d, nb, "row_norms B");
      // Pairs: forward, then backward of both sides (the reference's own norms and y feed both).
      const Tensor ia = from_vector(random_indices(O, Ra, 11), {O}), ib = from_vector(random_indices(O, Rb, 12), {O});
      const Tensor ia_d = ia.to(kGpu), ib_d = ib.to(kGpu);
      const Tensor y = empty({O}, dt), y_d = full({O}, kNaN, dt, kGpu);
      ref.forward(A.data<T>(), na.data<T>(), B.data<T>(), nb.data<T>(), ia.data<int64_t>(), ib.data<int64_t>(), O, D,
                  y.data<T>());
      f.forward(A_d.device_data<T>(), na.to(kGpu).device_data<T>(), B_d.device_data<T>(), nb.to(kGpu).device_data<T>(),
                ia_d.device_data<int64_t>(), ib_d.device_data<int64_t>(), O, D, y_d.device_data<T>());
      expect_close(y_d, y, "forward (pairs)");
      const Tensor dy = rnd({O}, 13, dt), dy_d = dy.to(kGpu), y_ref_d = y.to(kGpu), na_rd = na.to(kGpu),
                   nb_rd = nb.to(kGpu);
      const Tensor dA = empty({Ra, D}, dt), dB = empty({Rb, D}, dt);
      const Tensor dA_d = full({Ra, D}, kNaN, dt, kGpu), dB_d = full({Rb, D}, kNaN, dt, kGpu);
      ref.backward(dy.data<T>(), y.data<T>(), A.data<T>(), na.data<T>(), B.data<T>(), nb.data<T>(), ia.data<int64_t>(),
                   ib.data<int64_t>(), O, Ra, Rb, D, dA.data<T>(), dB.data<T>());
      f.backward(dy_d.device_data<T>(), y_ref_d.device_data<T>(), A_d.device_data<T>(), na_rd.device_data<T>(),
                 B_d.device_data<T>(), nb_rd.device_data<T>(), ia_d.device_data<int64_t>(), ib_d.device_data<int64_t>(),
                 O, Ra, Rb, D, dA_d.device_data<T>(), dB_d.device_data<T>());
      expect_close(dA_d, dA, "backward (pairs) dA");
      expect_close(dB_d, dB, "backward (pairs) dB");
      // Outer layout: y (Ra, Rb), then its backward with only dA requested, then both.
      const Tensor yo = empty({Ra, Rb}, dt), yo_d = full({Ra, Rb}, kNaN, dt, kGpu);
      ref.forward_outer(A.data<T>(), na.data<T>(), B.data<T>(), nb.data<T>(), Ra, Rb, D, yo.data<T>());
      f.forward_outer(A_d.device_data<T>(), na_rd.device_data<T>(), B_d.device_data<T>(), nb_rd.device_data<T>(), Ra,
                      Rb, D, yo_d.device_data<T>());
      expect_close(yo_d, yo, "forward_outer");
      const Tensor dyo = rnd({Ra, Rb}, 14, dt), dyo_d = dyo.to(kGpu), yo_rd = yo.to(kGpu);
      ref.backward_outer(dyo.data<T>(), yo.data<T>(), A.data<T>(), na.data<T>(), B.data<T>(), nb.data<T>(), Ra, Rb, D,
                         dA.data<T>(), dB.data<T>());
      const Tensor dA_only = full({Ra, D}, kNaN, dt, kGpu);
      f.backward_outer(dyo_d.device_data<T>(), yo_rd.device_data<T>(), A_d.device_data<T>(), na_rd.device_data<T>(),
                       B_d.device_data<T>(), nb_rd.device_data<T>(), Ra, Rb, D, dA_only.device_data<T>(), nullptr);
      f.backward_outer(dyo_d.device_data<T>(), yo_rd.device_data<T>(), A_d.device_data<T>(), na_rd.device_data<T>(),
                       B_d.device_data<T>(), nb_rd.device_data<T>(), Ra, Rb, D, dA_d.device_data<T>(),
                       dB_d.device_data<T>());
      expect_close(dA_only, dA, "backward_outer dA alone");
      expect_close(dA_d, dA, "backward_outer dA");
      expect_close(dB_d, dB, "backward_outer dB");
    };
    for (auto [Ra, Rb, D, O] :
         {std::array<int64_t, 4>{5, 3, 37, 11}, {1, 1, 1, 1}, {7, 33, 65, 0}, {40, 9, 256, 100}}) {
      run(float{}, Ra, Rb, D, O);
      run(double{}, Ra, Rb, D, O);
    }
  });
}

TEST(CudaCosine, ForwardAndBackwardMatchCpuOnEveryLayout) {
  HM_SKIP_WITHOUT_CUDA();
  using F = std::function<Tensor(const std::vector<Tensor>&)>;
  for (DType dt : {DType::f32, DType::f64}) {
    const double at = atol_for(dt) * 10, rt = rtol_for(dt) * 10;
    const auto cos_dim = [](int64_t d) -> F {
      return [d](const std::vector<Tensor>& x) { return cosine_similarity(x[0], x[1], d); };
    };
    Tensor proj = rnd({7, 1, 9}, 120, dt), labels = rnd({1, 5, 9}, 121, dt);
    expect_gpu_matches_cpu(cat("cosine (T, 1, D) x (1, C, D) ", dt), cos_dim(-1), {proj, labels}, at, rt);
    expect_gpu_matches_cpu(cat("cosine (1, C, D) x (T, 1, D) ", dt), cos_dim(-1), {labels, proj}, at, rt);
    expect_gpu_matches_cpu(cat("cosine pairs ", dt), cos_dim(-1), {rnd({4, 3, 9}, 122, dt), rnd({4, 3, 9}, 123, dt)},
                           at, rt);
    expect_gpu_matches_cpu(cat("cosine dim 1 with broadcast ", dt), cos_dim(1),
                           {rnd({3, 9, 4}, 124, dt), rnd({1, 9, 4}, 125, dt)}, at, rt);
    expect_gpu_matches_cpu(cat("cosine against a vector ", dt), cos_dim(-1), {rnd({6, 9}, 126, dt), rnd({9}, 127, dt)},
                           at, rt);
    // A zero row: the clamped norm (eps) path, on the GEMM layout and on the pairs layout.
    const Tensor z = rnd({7, 1, 9}, 128, dt);
    Tensor zero_row = pad(z.narrow(0, 0, 6), {0, 0, 0, 0, 0, 1});  // last row all zeros
    expect_gpu_matches_cpu(cat("cosine with a zero row ", dt), cos_dim(-1), {zero_row, labels}, at, rt);
    expect_gpu_matches_cpu(cat("cosine pairs with a zero row ", dt), cos_dim(-1),
                           {zero_row.squeeze(1), rnd({7, 9}, 129, dt)}, at, rt);
  }
}

}  // namespace
}  // namespace hm::test
