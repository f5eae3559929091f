// CUDA elementwise-family benchmark: the ops on activation-sized tensors (B 8, T 2000, C 768, f32), every CUDA
// variant of the table each op dispatches to, forward and forward + backward (tape included). Prints ms per call,
// the effective bandwidth of the forward (bytes read + written / time; the H100's ~3.3 TB/s HBM3 is the floor), the
// ratio of each variant to cuda_simple, then one JSON line whose keys match bench/pytorch_cuda_elementwise.py
// (tools/gpu_check.sh divides the two).
//
//   ./build/bench_cuda_elementwise [--reps=20] [--torch]    (--torch also runs the PyTorch script, prints ratios)
//
// Timing: wall clock around the call with a device synchronize on both sides, median of --reps after 3 warm-up
// calls. Without a GPU: prints "skipped: no GPU" and exits 0.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "ops/ops.h"
#ifdef HUBMAMBA_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace {

#ifdef HUBMAMBA_WITH_CUDA
using hm::Tensor;

Tensor dev_randn(const hm::Shape& s, uint64_t seed) {
  hm::Generator gen(seed);
  return hm::randn(s, hm::DType::f32, gen).to(hm::Device::cuda());
}

struct Case {
  std::string name;
  std::string table;  // the kernel table (op name) whose CUDA variants the case compares
  std::vector<std::string> variants;
  double fwd_bytes;  // bytes the forward reads + writes
  std::function<Tensor(const std::vector<Tensor>&)> f;
  std::vector<Tensor> inputs;
};

double median_ms(const std::function<void()>& fn, int reps) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    hm::cuda::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    hm::cuda::synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return hm::bench::median(ms);
}

std::vector<Case> cases() {
  const int64_t B = 8, T = 2000, C = 768, n = B * T * C;
  const double f = sizeof(float);
  const Tensor x = dev_randn({B, T, C}, 1), y = dev_randn({B, T, C}, 2), bias = dev_randn({C}, 3);
  const Tensor logits = dev_randn({B * 8, T, 500}, 4);  // attention-score-like rows
  std::vector<Case> c;
  c.push_back({"add",
               "binary_f32",
               {"cuda_simple", "cuda_vec"},
               3 * n * f,
               [](const auto& v) { return hm::add(v[0], v[1]); },
               {x, y}});
  c.push_back({"add_bias",
               "binary_f32",
               {"cuda_simple", "cuda_vec"},
               2 * n * f,
               [](const auto& v) { return hm::add(v[0], v[1]); },
               {x, bias}});
  c.push_back({"mul_scalar",
               "binary_f32",
               {"cuda_simple", "cuda_vec"},
               2 * n * f,
               [](const auto& v) { return hm::mul(v[0], 0.5); },
               {x}});
  c.push_back(
      {"gelu", "unary_f32", {"cuda_simple", "cuda_vec"}, 2 * n * f, [](const auto& v) { return hm::gelu(v[0]); }, {x}});
  c.push_back(
      {"silu", "unary_f32", {"cuda_simple", "cuda_vec"}, 2 * n * f, [](const auto& v) { return hm::silu(v[0]); }, {x}});
  c.push_back(
      {"sum_last", "reduce_rows_f32", {"cuda_tree"}, n * f, [](const auto& v) { return hm::sum(v[0], {-1}); }, {x}});
  c.push_back({"sum_bt",
               "reduce_rows_f32",
               {"cuda_tree"},
               n * f,
               [](const auto& v) {
                 return hm::sum(v[0], {0, 1});
               },
               {x}});
  c.push_back({"softmax",
               "softmax_f32",
               {"cuda_rows"},
               2.0 * double(logits.numel()) * f,
               [](const auto& v) { return hm::softmax(v[0], -1); },
               {logits}});
  c.push_back(
      {"glu", "glu_forward_f32", {"cuda_simple"}, 1.5 * n * f, [](const auto& v) { return hm::glu(v[0], -1); }, {x}});
  c.push_back({"dropout",
               "dropout_f32",
               {"cuda_philox"},
               3 * n * f,
               [](const auto& v) { return hm::dropout(v[0], 0.1, true); },
               {x}});
  return c;
}
#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef HUBMAMBA_WITH_CUDA
  if (!hm::cuda::available()) {
    std::printf("skipped: no GPU\n");
    return 0;
  }
  int reps = 20;
  bool torch = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::atoi(argv[i] + 7);
    if (std::strcmp(argv[i], "--torch") == 0) torch = true;
  }
  std::map<std::string, double> best;  // <case>_fwd_ms / <case>_fwdbwd_ms of the default variant
  std::printf("%-11s %-12s %10s %12s %8s %10s\n", "case", "variant", "fwd ms", "fwd+bwd ms", "GB/s", "vs simple");
  for (Case& c : cases()) {
    double simple_ms = 0;
    for (const std::string& v : c.variants) {
      hm::set_kernel_overrides(c.table + "=" + v);
      const double fwd = median_ms(
          [&] {
            hm::NoGradGuard ng;
            c.f(c.inputs);
          },
          reps);
      for (Tensor& t : c.inputs) t.requires_grad_(true);
      const double fwdbwd = median_ms(
          [&] {
            for (Tensor& t : c.inputs) t.zero_grad();
            const Tensor out = c.f(c.inputs);
            out.backward(hm::ones(out.shape(), out.dtype(), out.device()));
          },
          reps);
      for (Tensor& t : c.inputs) t.requires_grad_(false);
      hm::clear_kernel_overrides();
      if (v == c.variants.front()) simple_ms = fwd;
      std::printf("%-11s %-12s %10.3f %12.3f %8.0f %10.2f\n", c.name.c_str(), v.c_str(), fwd, fwdbwd,
                  c.fwd_bytes / (fwd * 1e6), simple_ms / fwd);
      best[c.name + "_fwd_ms"] = fwd;  // the last variant listed is the default (highest priority)
      best[c.name + "_fwdbwd_ms"] = fwdbwd;
    }
  }
  std::string json = "{\"bench\": \"hubmamba_cuda_elementwise\"";
  for (const auto& [k, v] : best) json += ", \"" + k + "\": " + std::to_string(v);
  std::printf("%s}\n", json.c_str());
  if (torch) {
    const auto out = hm::bench::python_output(hm::bench::bench_file("pytorch_cuda_elementwise.py"),
                                              "--reps " + std::to_string(reps));
    if (!out) {
      std::printf("PyTorch baseline unavailable\n");
      return 0;
    }
    std::printf("%s\n%-22s %10s %10s %8s\n", out->c_str(), "case", "ours ms", "torch ms", "torch/us");
    for (const auto& [k, v] : best) {
      const double t = hm::bench::json_number(*out, k);
      std::printf("%-22s %10.3f %10.3f %8.2f\n", k.c_str(), v, t, t / v);
    }
  }
  return 0;
#else
  (void)argc, (void)argv;
  std::printf("skipped: no GPU (built without CUDA)\n");
  return 0;
#endif
}
