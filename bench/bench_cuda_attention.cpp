// CUDA attention, forward and forward+backward through the op (autograd included), vs PyTorch's
// torch.nn.functional.scaled_dot_product_attention (bench/pytorch_cuda_attention.py, run in the same invocation):
// B=8 H=12 Dh=64 (HuBERT Base heads), T = 400 and 2000, float32 and bfloat16, without a mask and with key padding
// (the last 10% of keys of every other utterance). Timed with CUDA events on hm::cuda::stream(): 3 warm-ups, then
// the median of --reps runs. cuda_reference is timed at T = 400 only (it keeps 3 (B*H, T, T) matrices).
//
//   ./build/bench_cuda_attention                 (~20 s on an H100; prints "skipped: no GPU" without one)
//   ./build/bench_cuda_attention --torch=none    (skip the PyTorch baseline)
//
// cuda_flash_tc (tensor-core bf16 forward) is timed on bf16 only. Prints a table with sdpa_ms / ours_ms (the fastest
// of our variants; >= 0.8 is the target, > 1 = we are faster) and one JSON line of our timings.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "ops/attention.h"
#ifdef HUBMAMBA_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/runtime.h"
#endif

namespace {

#ifdef HUBMAMBA_WITH_CUDA
using hm::Tensor;

// Median milliseconds of fn over `reps` runs after 3 warm-ups, each bracketed by events on the one stream.
template <class F>
double time_ms(F&& fn, int reps) {
  for (int i = 0; i < 3; ++i) fn();
  cudaEvent_t start, stop;
  hm::cuda::check(cudaEventCreate(&start), "bench: cudaEventCreate");
  hm::cuda::check(cudaEventCreate(&stop), "bench: cudaEventCreate");
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    hm::cuda::check(cudaEventRecord(start, hm::cuda::stream()), "bench: cudaEventRecord");
    fn();
    hm::cuda::check(cudaEventRecord(stop, hm::cuda::stream()), "bench: cudaEventRecord");
    hm::cuda::check(cudaEventSynchronize(stop), "bench: cudaEventSynchronize");
    float t = 0;
    hm::cuda::check(cudaEventElapsedTime(&t, start, stop), "bench: cudaEventElapsedTime");
    ms.push_back(t);
  }
  hm::cuda::check(cudaEventDestroy(start), "bench: cudaEventDestroy");
  hm::cuda::check(cudaEventDestroy(stop), "bench: cudaEventDestroy");
  return hm::bench::median(ms);
}

// Standard output of `python3 <script> <args>` (the python3 on PATH: the one with torch on the GPU machine), or ""
// when it cannot run.
std::string python_json(const std::string& script, const std::string& args) {
  FILE* pipe = popen(("python3 " + script + " " + args).c_str(), "r");
  if (!pipe) return "";
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  return pclose(pipe) == 0 ? out : "";
}

int run(int reps, bool torch) {
  constexpr int64_t B = 8, H = 12, Dh = 64;
  std::map<std::string, double> ours;  // "T400_f32_nomask_fwd/cuda_flash" -> ms
  std::vector<std::string> order;
  for (int64_t T : {400, 2000}) {
    for (hm::DType dt : {hm::DType::f32, hm::DType::bf16}) {
      hm::Generator gen(0);
      auto make = [&] { return hm::randn({B, H, T, Dh}, hm::DType::f32, gen).to(hm::Device::cuda()).to(dt); };
      Tensor q = make(), k = make(), v = make();
      const Tensor dout = make();
      for (Tensor* t : {&q, &k, &v}) t->requires_grad_(true);
      Tensor pad = hm::zeros({B, T}, hm::DType::u8);
      for (int64_t b = 1; b < B; b += 2)
        for (int64_t j = T - T / 10; j < T; ++j) pad.data<uint8_t>()[b * T + j] = 1;
      pad = pad.to(hm::Device::cuda());
      const char* dname = dt == hm::DType::f32 ? "f32" : "bf16";
      for (const char* mname : {"nomask", "pad"}) {
        const Tensor mask = std::strcmp(mname, "pad") == 0 ? pad : Tensor();
        for (const char* mode : {"fwd", "fwdbwd"}) {
          for (const std::string variant : {"cuda_flash", "cuda_flash_tc", "cuda_reference"}) {
            if (variant == "cuda_flash_tc" && dt != hm::DType::bf16) continue;  // same kernels as cuda_flash
            if (variant == "cuda_reference" && T > 400) continue;
            hm::set_kernel_overrides("attention=" + variant);
            const bool bwd = std::strcmp(mode, "fwdbwd") == 0;
            const double ms = time_ms(
                [&] {
                  if (bwd) {
                    for (Tensor* t : {&q, &k, &v}) t->zero_grad();
                    hm::attention(q, k, v, mask).backward(dout);
                  } else {
                    hm::NoGradGuard ng;
                    hm::attention(q, k, v, mask);
                  }
                },
                reps);
            char key_buf[64];  // "T400_f32_nomask_fwd", the keys of pytorch_cuda_attention.py
            std::snprintf(key_buf, sizeof key_buf, "T%lld_%s_%s_%s", static_cast<long long>(T), dname, mname, mode);
            const std::string key = key_buf;
            ours[key + "/" + variant] = ms;
            if (variant == "cuda_flash") order.push_back(key);
          }
        }
      }
      hm::clear_kernel_overrides();
    }
  }
  const std::string json =
      torch ? python_json(hm::bench::bench_file("pytorch_cuda_attention.py"), "--reps " + std::to_string(reps)) : "";
  if (torch && json.empty()) std::printf("(PyTorch baseline unavailable: python3 with CUDA torch not found)\n");
  // One row per config: each variant's ms ("-" where not timed), SDPA's, and sdpa / fastest of ours.
  auto cell = [](std::optional<double> v) { return v ? std::to_string(*v).substr(0, 8) : std::string("-"); };
  std::printf("%-26s %10s %10s %10s %10s %12s\n", "config", "flash", "flash_tc", "reference", "sdpa", "sdpa/ours");
  std::string out_json = "{\"ms\": {";
  for (const std::string& key : order) {
    std::optional<double> v[3];
    double best = 1e300;
    const char* names[3] = {"cuda_flash", "cuda_flash_tc", "cuda_reference"};
    for (int x = 0; x < 3; ++x) {
      const auto it = ours.find(key + "/" + names[x]);
      if (it == ours.end()) continue;
      v[x] = it->second;
      best = std::min(best, it->second);
      out_json += (out_json.back() == '{' ? "\"" : ", \"") + key + "/" + names[x] + "\": " + std::to_string(it->second);
    }
    const std::optional<double> sdpa =
        json.empty() ? std::nullopt : std::optional<double>(hm::bench::json_number(json, key));
    std::printf("%-26s %10s %10s %10s %10s %12s\n", key.c_str(), cell(v[0]).c_str(), cell(v[1]).c_str(),
                cell(v[2]).c_str(), cell(sdpa).c_str(), sdpa ? cell(*sdpa / best).c_str() : "-");
  }
  std::printf("%s}}\n", out_json.c_str());
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int reps = 10;
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--torch=none")
      torch = false;
    else if (a.rfind("--reps=", 0) == 0)
      reps = std::stoi(a.substr(7));
    else {
      std::fprintf(stderr, "usage: bench_cuda_attention [--torch=none] [--reps=N]\n");
      return 2;
    }
  }
#ifdef HUBMAMBA_WITH_CUDA
  if (!hm::device_available(hm::DeviceType::cuda)) {
    std::printf("skipped: no GPU\n");
    return 0;
  }
  return run(reps, torch);
#else
  (void)reps, (void)torch;
  std::printf("skipped: no GPU (built without CUDA)\n");
  return 0;
#endif
}
