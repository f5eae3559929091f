// GEMM through the engine on CUDA vs cuBLAS called directly on the same device buffers (issue 8: ">= 0.95x").
// HuBERT Base shapes (batch 8 x 400 frames = 3200 rows, d_model 768, FFN 3072) and one attention-like batched
// product (8 x 12 heads, 400 x 64 @ 64 x 400), in f32 with exact math, f32 with TF32 tensor cores, and bf16 with
// f32 accumulation:
//
//   engine   c = hm::matmul(a, b)    a (M, K), b (K, N) (or (B, M, K) @ (B, K, N))   op overhead included:
//                                    checks, the output allocation, the kernel-table lookup, the cuBLAS call
//   direct   cublasGemmEx / cublasGemmStridedBatchedEx on a, b and a preallocated c, own handle, same stream
//
// Timing: cudaEvents around `kInner` back-to-back calls (so a launch queue builds up as in a training step and
// host overhead shows only when the host cannot keep ahead of the GPU), 3 warm-up rounds, median of 20; engine and
// direct alternate inside each repetition. Reported: TFLOP/s (2 M N K per product) and ratio = direct time /
// engine time (1.00 = no overhead). The engine runs with its default variant (cuda_cublas) and with
// --kernel gemm=cuda_cublaslt. Last line: the engine's times as JSON with the keys of bench/pytorch_cuda_gemm.py
// (torch.matmul on the same shapes). Without a GPU it prints "skipped: no GPU" and exits 0. About 5 s on an H100.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"

#ifdef HUBMAMBA_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "bench/bench_util.h"
#include "cuda/blas.h"
#include "cuda/runtime.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "ops/linear.h"
#include "ops/registry.h"

namespace {

constexpr int kWarmup = 3, kReps = 20, kInner = 10;

struct Shape3 {
  const char* name;
  const char* key;  // the case name in the JSON line, as in bench/pytorch_cuda_gemm.py
  int64_t batch, M, K, N;
};

void check_blas(cublasStatus_t s, const char* what) {
  hm::check(s == CUBLAS_STATUS_SUCCESS, "bench_cuda_gemm: ", what, " failed: ", cublasGetStatusName(s));
}

// Milliseconds per call of f, one sample: events around kInner calls on hm::cuda::stream().
template <class F>
double sample_ms(cudaEvent_t start, cudaEvent_t stop, F&& f) {
  hm::cuda::check(cudaEventRecord(start, hm::cuda::stream()), "cudaEventRecord");
  for (int i = 0; i < kInner; ++i) f();
  hm::cuda::check(cudaEventRecord(stop, hm::cuda::stream()), "cudaEventRecord");
  hm::cuda::check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0;
  hm::cuda::check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  return double(ms) / kInner;
}

struct Result {
  double direct_ms, engine_ms, ratio, max_diff;
};

// Times engine vs direct for one shape and dtype (TF32 as set by the caller).
Result run(cublasHandle_t handle, const Shape3& s, hm::DType dt, bool tf32) {
  using namespace hm;
  NoGradGuard no_grad;
  Generator gen(7);
  const Shape sa = s.batch > 1 ? Shape{s.batch, s.M, s.K} : Shape{s.M, s.K};
  const Shape sb = s.batch > 1 ? Shape{s.batch, s.K, s.N} : Shape{s.K, s.N};
  const Shape sc = s.batch > 1 ? Shape{s.batch, s.M, s.N} : Shape{s.M, s.N};
  // Converted on the device (the CPU has no bf16 arithmetic).
  const Tensor a = randn(sa, DType::f32, gen).to(Device::cuda()).to(dt);
  const Tensor b = randn(sb, DType::f32, gen).to(Device::cuda()).to(dt);
  const Tensor c = empty(sc, dt, Device::cuda());
  const cudaDataType t = dt == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const float one = 1, zero = 0;
  // Row-major C = A B as column-major C^T = B^T A^T: b first (cuda/blas.h).
  auto direct = [&] {
    if (s.batch > 1)
      check_blas(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, int(s.N), int(s.M), int(s.K), &one,
                                            b.device_raw_data(), t, int(s.N), s.K * s.N, a.device_raw_data(), t,
                                            int(s.K), s.M * s.K, &zero, c.device_raw_data(), t, int(s.N), s.M * s.N,
                                            int(s.batch), compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx");
    else
      check_blas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, int(s.N), int(s.M), int(s.K), &one, b.device_raw_data(),
                              t, int(s.N), a.device_raw_data(), t, int(s.K), &zero, c.device_raw_data(), t, int(s.N),
                              compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  };
  Tensor out;
  auto engine = [&] { out = matmul(a, b); };
  cudaEvent_t start, stop;
  cuda::check(cudaEventCreate(&start), "cudaEventCreate");
  cuda::check(cudaEventCreate(&stop), "cudaEventCreate");
  for (int i = 0; i < kWarmup; ++i) sample_ms(start, stop, direct), sample_ms(start, stop, engine);
  std::vector<double> d, e, r;
  for (int i = 0; i < kReps; ++i) {
    d.push_back(sample_ms(start, stop, direct));
    e.push_back(sample_ms(start, stop, engine));
    r.push_back(d.back() / e.back());
  }
  cuda::check(cudaEventDestroy(start), "cudaEventDestroy");
  cuda::check(cudaEventDestroy(stop), "cudaEventDestroy");
  // Same library call on the same inputs: the results agree (up to the algorithm cuBLAS picks per call).
  const std::vector<double> x = out.to(DType::f64).to_vector<double>(), y = c.to(DType::f64).to_vector<double>();
  double diff = 0;
  for (size_t i = 0; i < x.size(); ++i) diff = std::max(diff, std::abs(x[i] - y[i]));
  return {bench::median(d), bench::median(e), bench::median(r), diff};
}

}  // namespace

int main() {
  using namespace hm;
  if (!device_available(DeviceType::cuda)) {
    std::printf("skipped: no GPU\n");
    return 0;
  }
  const std::vector<Shape3> shapes = {{"qkv/out proj", "proj", 1, 3200, 768, 768},
                                      {"FFN up", "ffn_up", 1, 3200, 768, 3072},
                                      {"FFN down", "ffn_down", 1, 3200, 3072, 768},
                                      {"attn scores (96 x)", "attn", 96, 400, 64, 400}};
  struct Mode {
    const char* name;
    const char* key;
    DType dt;
    bool tf32;
  };
  const Mode modes[] = {
      {"f32", "f32", DType::f32, false}, {"f32+tf32", "tf32", DType::f32, true}, {"bf16", "bf16", DType::bf16, false}};
  std::string json = "{\"bench\": \"bench_cuda_gemm\"";  // one line at the end, keys as pytorch_cuda_gemm.py
  cublasHandle_t handle;
  check_blas(cublasCreate(&handle), "cublasCreate");
  check_blas(cublasSetStream(handle, cuda::stream()), "cublasSetStream");

  std::printf("GEMM on CUDA: engine hm::matmul vs direct cuBLAS, same buffers; median of %d x %d calls\n", kReps,
              kInner);
  std::printf("%-20s %-9s %-18s %10s %8s %10s %8s %6s %10s %6s %9s\n", "shape", "dtype", "M x K x N", "direct",
              "TFLOP/s", "engine", "TFLOP/s", "ratio", "engine-Lt", "ratio", "max|diff|");
  bool met = true;
  for (const Mode& m : modes) {
    cuda::set_allow_tf32(m.tf32);
    for (const Shape3& s : shapes) {
      clear_kernel_overrides();
      const Result r = run(handle, s, m.dt, m.tf32);
      set_kernel_overrides("gemm=cuda_cublaslt");
      const Result lt = run(handle, s, m.dt, m.tf32);
      clear_kernel_overrides();
      const double flop = 2.0 * double(s.batch) * double(s.M) * double(s.K) * double(s.N);
      const std::string dims = cat(s.batch > 1 ? cat(s.batch, " x ") : std::string(), s.M, "x", s.K, "x", s.N);
      const auto tflops = [&](double ms) { return flop / (ms * 1e-3) * 1e-12; };
      std::printf("%-20s %-9s %-18s %8.1fus %8.1f %8.1fus %8.1f %6.2f %8.1fus %6.2f %9.2g\n", s.name, m.name,
                  dims.c_str(), r.direct_ms * 1e3, tflops(r.direct_ms), r.engine_ms * 1e3, tflops(r.engine_ms), r.ratio,
                  lt.engine_ms * 1e3, lt.ratio, r.max_diff);
      met = met && r.ratio >= 0.95;
      const std::string key = cat(s.key, "_", m.key);
      json += cat(", \"", key, "_us\": ", r.engine_ms * 1e3, ", \"", key, "_direct_us\": ", r.direct_ms * 1e3, ", \"",
                  key, "_ratio\": ", r.ratio);
    }
  }
  cuda::set_allow_tf32(false);
  check_blas(cublasDestroy(handle), "cublasDestroy");
  std::printf("target engine/direct >= 0.95 (default variant): %s\n", met ? "met" : "MISSED");
  std::printf("%s}\n", json.c_str());
  return 0;
}

#else  // a build without the CUDA backend

int main() {
  std::printf("skipped: no GPU (built without CUDA)\n");
  return 0;
}

#endif
