// GEMM through the engine vs OpenBLAS called directly, on the HuBERT Base shapes (batch 8 x 400 frames = 3200
// rows, d_model 768, FFN 3072), f32, in the same process (DESIGN.md 7: OpenBLAS itself is the GEMM baseline).
//
//   engine  hm::linear(x, W)         x (M, K), W (N, K)  -> cblas_sgemm(NoTrans, Trans)   on the same buffers
//   engine  hm::matmul(x, Wt)        x (M, K), Wt (K, N) -> cblas_sgemm(NoTrans, NoTrans)
//   engine  linear forward+backward  (y = x W^T, dx = dy W, dW = dy^T x) -> the three sgemm calls
//
// Engine and direct runs alternate inside each repetition so that load from other processes hits both alike.
// Reported: median times, and ratio = the median over repetitions of (direct time / engine time) of each
// adjacent pair (1.00 = no overhead; the target is >= 0.95). Threads 1 and 2 are set explicitly (OpenBLAS and
// OpenMP). Usage: bench_gemm [--reps N] (default 3: about 30 s on an idle 2-core machine).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "cpu/parallel.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "ops/linear.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds(const std::function<void()>& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

using hm::bench::median;

// One warm-up of each, then `reps` alternating timed runs; prints median times, GFLOP/s and the paired ratio.
void compare(const char* label, double gflop, int reps, const std::function<void()>& engine,
             const std::function<void()>& direct) {
  engine();
  direct();
  std::vector<double> te, td, ratio;
  for (int r = 0; r < reps; ++r) {
    te.push_back(seconds(engine));
    td.push_back(seconds(direct));
    ratio.push_back(td.back() / te.back());
  }
  const double me = median(te), md = median(td);
  std::printf("  %-44s engine %8.1f ms %6.1f GFLOP/s | direct %8.1f ms %6.1f GFLOP/s | ratio %.3f\n", label, me * 1e3,
              gflop / me, md * 1e3, gflop / md, median(ratio));
  std::fflush(stdout);
}

struct Shape3 {
  int64_t M, K, N;
};

void bench_shape(const Shape3& s, int reps) {
  using hm::Tensor;
  hm::Generator gen(1);
  const Tensor x = hm::randn({s.M, s.K}, hm::DType::f32, gen);   // (M, K)
  const Tensor w = hm::randn({s.N, s.K}, hm::DType::f32, gen);   // (N, K): linear weight (out, in)
  const Tensor wt = hm::randn({s.K, s.N}, hm::DType::f32, gen);  // (K, N): matmul right operand
  Tensor y_direct = hm::empty({s.M, s.N});
  const double gflop = 2.0 * double(s.M) * double(s.N) * double(s.K) * 1e-9;
  const int M = int(s.M), N = int(s.N), K = int(s.K);
  char label[96];

  hm::NoGradGuard no_grad;
  std::snprintf(label, sizeof label, "linear (%d, %d) x (%d, %d)^T", M, K, N, K);
  compare(
      label, gflop, reps, [&] { hm::linear(x, w); },
      [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x.data<float>(), K, w.data<float>(), K,
                    0.0f, y_direct.data<float>(), N);
      });
  std::snprintf(label, sizeof label, "matmul (%d, %d) @ (%d, %d)", M, K, K, N);
  compare(
      label, gflop, reps, [&] { hm::matmul(x, wt); },
      [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x.data<float>(), K, wt.data<float>(), N,
                    0.0f, y_direct.data<float>(), N);
      });
}

void bench_linear_fwd_bwd(const Shape3& s, int reps) {
  using hm::Tensor;
  hm::Generator gen(2);
  Tensor x = hm::randn({s.M, s.K}, hm::DType::f32, gen);         // (M, K)
  Tensor w = hm::randn({s.N, s.K}, hm::DType::f32, gen);         // (N, K)
  const Tensor dy = hm::randn({s.M, s.N}, hm::DType::f32, gen);  // (M, N)
  x.requires_grad_(true);
  w.requires_grad_(true);
  Tensor y = hm::empty({s.M, s.N}), dx = hm::empty({s.M, s.K}), dw = hm::empty({s.N, s.K});
  const double gflop = 3 * 2.0 * double(s.M) * double(s.N) * double(s.K) * 1e-9;
  const int M = int(s.M), N = int(s.N), K = int(s.K);
  char label[96];
  std::snprintf(label, sizeof label, "linear fwd+bwd (%d, %d) x (%d, %d)^T", M, K, N, K);
  compare(
      label, gflop, reps,
      [&] {
        x.zero_grad();
        w.zero_grad();
        hm::linear(x, w).backward(dy);
      },
      [&] {
        const float* px = x.data<float>();
        const float* pw = w.data<float>();
        const float* pdy = dy.data<float>();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, px, K, pw, K, 0.0f, y.data<float>(),
                    N);  // y = x W^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, pdy, N, pw, K, 0.0f, dx.data<float>(),
                    K);  // dx = dy W
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, pdy, N, px, K, 0.0f, dw.data<float>(),
                    K);  // dW = dy^T x
      });
}

// The engine's fixed cost per call (shape checks, kernel lookup, output allocation from the caching allocator,
// and for forward+backward the tape node and gradient accumulation), on a shape where the GEMM itself is tiny.
void bench_call_overhead(int reps) {
  const int64_t n = 8, calls = 2000;
  hm::Generator gen(4);
  hm::Tensor x = hm::randn({n, n}, hm::DType::f32, gen), w = hm::randn({n, n}, hm::DType::f32, gen);
  const hm::Tensor dy = hm::randn({n, n}, hm::DType::f32, gen);
  hm::Tensor y = hm::empty({n, n});
  auto per_call_us = [&](const std::function<void()>& f) {
    auto loop = [&] {
      for (int64_t i = 0; i < calls; ++i) f();
    };
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) t.push_back(seconds(loop) / double(calls) * 1e6);
    return median(t);
  };
  const double direct = per_call_us([&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(n), int(n), 1.0f, x.data<float>(), int(n),
                w.data<float>(), int(n), 0.0f, y.data<float>(), int(n));
  });
  double forward = 0;
  {
    hm::NoGradGuard no_grad;
    forward = per_call_us([&] { hm::linear(x, w); });
  }
  x.requires_grad_(true);
  w.requires_grad_(true);
  const double fwd_bwd = per_call_us([&] {
    x.zero_grad();
    w.zero_grad();
    hm::linear(x, w).backward(dy);
  });
  std::printf(
      "  call overhead (8, 8) x (8, 8)^T: direct sgemm %.2f us, hm::linear %.2f us, "
      "linear fwd+bwd %.2f us (vs 3 sgemm %.2f us)\n",
      direct, forward, fwd_bwd, 3 * direct);
}

// Every registered `gemm` variant side by side on a small square f32 GEMM (the scalar reference is a plain triple
// loop, so the shape stays small), as a ratio to the scalar variant.
void bench_variants(int reps) {
  const int64_t n = 256;
  hm::Generator gen(3);
  const hm::Tensor a = hm::randn({n, n}, hm::DType::f32, gen), b = hm::randn({n, n}, hm::DType::f32, gen);
  hm::Tensor c = hm::empty({n, n});
  const double gflop = 2.0 * double(n * n * n) * 1e-9;
  auto time_variant = [&](const std::string& v) {
    const hm::cpu::GemmFn<float> fn = hm::gemm_table().get(v).f32;
    auto run = [&] {
      fn(false, false, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f, c.data<float>(), n);
    };
    run();
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) t.push_back(seconds(run));
    return median(t);
  };
  const double scalar = time_variant("scalar");
  for (const std::string& v : hm::gemm_table().variants()) {
    const double t = v == "scalar" ? scalar : time_variant(v);
    std::printf("  gemm=%-10s (%lld, %lld) @ (%lld, %lld)  %8.2f ms %7.1f GFLOP/s  %6.1fx scalar\n", v.c_str(),
                (long long)n, (long long)n, (long long)n, (long long)n, t * 1e3, gflop / t, scalar / t);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_gemm [--reps N]\n");
      return 2;
    }
  }
  const std::vector<Shape3> shapes = {{8 * 400, 768, 3072}, {8 * 400, 3072, 768}, {8 * 400, 768, 768}};
  std::printf("bench_gemm: f32, gemm variant '%s', %d reps (median), ratio = median of paired direct / engine times\n",
              hm::gemm_table().selected().c_str(), reps);
  for (int threads : {1, 2}) {
    hm::cpu::set_num_threads(threads);
    std::printf("threads %d\n", threads);
    bench_variants(reps);
    bench_call_overhead(reps);
    for (const Shape3& s : shapes) bench_shape(s, reps);
    bench_linear_fwd_bwd(shapes[0], reps);
  }
  return 0;
}
