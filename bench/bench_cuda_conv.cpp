// CUDA conv benchmark: every CUDA variant of the conv tables on the model's conv shapes, ops level (tape
// included), f32 (TF32 off, the default) and bf16 for the stem. Prints ms per call and cuda_direct / cuda_cudnn,
// then one JSON line whose keys match bench/pytorch_cuda_conv.py (tools/gpu_check.sh divides the two).
//
//   ./build/bench_cuda_conv [--reps=10] [--torch]      (--torch also runs the PyTorch script and prints ratios)
//
// Cases (bench/pytorch_cuda_conv.py has the same list): stem0 (HuBERT CNN layer 0, backward = dW only), dw31
// (conformer depthwise), causal4 (Mamba causal conv, B 8, D 1536, L 2000), posconv (HuBERT positional conv, k 128,
// groups 16). Timing: wall clock around the call with a device synchronize on both sides, median of --reps after
// 3 warm-up calls (which also fill the cuDNN algorithm cache). Without a GPU: prints "skipped: no GPU", exits 0.
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
#include "ops/conv.h"
#ifdef HUBMAMBA_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace {

using hm::Tensor;

#ifdef HUBMAMBA_WITH_CUDA
struct Case {
  std::string name;
  std::string table;  // the kernel table the case dispatches to
  Tensor x, w, b, gy;
  hm::Conv1dParams p;
  bool grad_x;
};

Tensor dev_randn(const hm::Shape& s, uint64_t seed, hm::DType dt = hm::DType::f32) {
  hm::Generator gen(seed);
  return hm::randn(s, hm::DType::f32, gen).to(hm::Device::cuda()).to(dt);  // bf16 conversion on the device
}

std::vector<Case> cases() {
  using hm::DType;
  std::vector<Case> c;
  c.push_back({"stem0", "conv1d_dense", dev_randn({8, 1, 64000}, 1), dev_randn({512, 1, 10}, 2), Tensor(),
               dev_randn({8, 512, 12799}, 3), hm::conv1d_params(5, 0), false});
  c.push_back({"stem0_bf16", "conv1d_dense", dev_randn({8, 1, 64000}, 1, DType::bf16),
               dev_randn({512, 1, 10}, 2, DType::bf16), Tensor(), dev_randn({8, 512, 12799}, 3, DType::bf16),
               hm::conv1d_params(5, 0), false});
  c.push_back({"dw31", "conv1d_depthwise", dev_randn({8, 256, 400}, 4), dev_randn({256, 1, 31}, 5), Tensor(),
               dev_randn({8, 256, 400}, 6), hm::conv1d_params(1, 15, 1, 256), true});
  c.push_back({"causal4", "conv1d_depthwise", dev_randn({8, 1536, 2000}, 7), dev_randn({1536, 1, 4}, 8),
               dev_randn({1536}, 9), dev_randn({8, 1536, 2000}, 10), hm::Conv1dParams{1, 3, 0, 1, 1536}, true});
  c.push_back({"posconv", "conv1d_dense", dev_randn({8, 768, 400}, 11), dev_randn({768, 48, 128}, 12),
               dev_randn({768}, 13), dev_randn({8, 768, 401}, 14), hm::conv1d_params(1, 64, 1, 16), true});
  return c;
}

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

// name_fwd_ms / name_fwdbwd_ms for one variant.
void time_case(Case& c, const std::string& variant, int reps, std::map<std::string, double>& out) {
  hm::set_kernel_overrides(c.table + "=" + variant);
  out[c.name + "_fwd_ms"] = median_ms(
      [&] {
        hm::NoGradGuard ng;
        hm::conv1d(c.x, c.w, c.b, c.p);
      },
      reps);
  c.x.requires_grad_(c.grad_x);
  c.w.requires_grad_(true);
  if (c.b.defined()) c.b.requires_grad_(true);
  out[c.name + "_fwdbwd_ms"] = median_ms(
      [&] {
        c.x.zero_grad(), c.w.zero_grad();
        if (c.b.defined()) c.b.zero_grad();
        hm::conv1d(c.x, c.w, c.b, c.p).backward(c.gy);
      },
      reps);
  c.x.requires_grad_(false), c.w.requires_grad_(false);
  if (c.b.defined()) c.b.requires_grad_(false);
  hm::clear_kernel_overrides();
}
#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef HUBMAMBA_WITH_CUDA
  if (!hm::cuda::available()) {
    std::printf("skipped: no GPU\n");
    return 0;
  }
  int reps = 10;
  bool torch = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::atoi(argv[i] + 7);
    if (std::strcmp(argv[i], "--torch") == 0) torch = true;
  }
  std::vector<Case> cs = cases();
  std::map<std::string, double> cudnn, direct;
  for (Case& c : cs) {
    time_case(c, "cuda_cudnn", reps, cudnn);
    time_case(c, "cuda_direct", reps, direct);
  }
  std::map<std::string, double> ref;
  if (torch) {
    const auto out =
        hm::bench::python_output(hm::bench::bench_file("pytorch_cuda_conv.py"), "--reps " + std::to_string(reps));
    if (out)
      for (const auto& [key, v] : cudnn) ref[key] = hm::bench::json_number(*out, key);
    else
      std::printf("(PyTorch baseline failed to run)\n");
  }
  std::printf("%-22s %12s %12s %10s %12s %12s\n", "case", "cudnn_ms", "direct_ms", "dir/cudnn", "torch_ms",
              "torch/cudnn");
  for (const auto& [key, v] : cudnn) {
    std::printf("%-22s %12.4f %12.4f %10.2f", key.c_str(), v, direct[key], direct[key] / v);
    if (ref.count(key)) std::printf(" %12.4f %12.2f", ref[key], ref[key] / v);
    std::printf("\n");
  }
  std::printf("{\"bench\": \"bench_cuda_conv\", \"variant\": \"cuda_cudnn\"");
  for (const auto& [key, v] : cudnn) std::printf(", \"%s\": %.4f", key.c_str(), v);
  std::printf("}\n");
#else
  (void)argc, (void)argv;
  std::printf("skipped: no GPU (built without CUDA)\n");
#endif
  return 0;
}
