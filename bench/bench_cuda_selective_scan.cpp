// CUDA selective scan benchmark (issue 8): forward and forward+backward of every `selective_scan@cuda` variant at
// the Mamba-HuBERT shape B=8, D=1536 (d_inner of d_model 768), L=2000 (40 s at 50 Hz), N=16, with float32 and with
// bfloat16 sequences (f32 weights and state). Kernels are called through the table's raw-pointer entry points on
// device buffers allocated once; each timing is a cudaEvent pair on the one stream around one call, median of
// --reps after two warm-up calls (the warm-up also fills the caching allocator, so no cudaMalloc is timed).
// The forward is timed as in training (it writes the checkpoints the backward needs).
//
// Prints a table (ms, and each variant's speed-up over cuda_sequential) and one JSON line for tools/gpu_check.sh,
// whose PyTorch side is bench/pytorch_cuda_selective_scan.py on the same shape.
//
// Run: ./build/bench_cuda_selective_scan [--reps=7] [--batch=8 --channels=1536 --length=2000 --state=16]
//      [--variants=cuda_chunked,cuda_sequential]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/device.h"
#include "engine/rng.h"
#include "ops/selective_scan.h"
#ifdef HUBMAMBA_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace hm::bench {
namespace {

struct Options {
  int reps = 7;
  int64_t B = 8, D = 1536, L = 2000, N = 16;
  std::string variants = "cuda_chunked,cuda_sequential";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    check(a.rfind("--", 0) == 0 && eq != std::string::npos, "bench_cuda_selective_scan: expected --key=value, got ", a);
    const std::string key = a.substr(2, eq - 2), value = a.substr(eq + 1);
    if (key == "reps")
      o.reps = std::stoi(value);
    else if (key == "batch")
      o.B = std::stoll(value);
    else if (key == "channels")
      o.D = std::stoll(value);
    else if (key == "length")
      o.L = std::stoll(value);
    else if (key == "state")
      o.N = std::stoll(value);
    else if (key == "variants")
      o.variants = value;
    else
      throw Error(cat("bench_cuda_selective_scan: unknown option --", key));
  }
  return o;
}

#ifdef HUBMAMBA_WITH_CUDA

// A device tensor of `dtype` with values randn * scale + shift (never all zero); bf16 is converted on the device.
Tensor device_randn(const Shape& shape, DType dtype, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Generator gen(seed);
  const Tensor host = randn(shape, DType::f32, gen);
  float* p = host.data<float>();
  for (int64_t i = 0; i < host.numel(); ++i) p[i] = float(p[i] * scale + shift);
  const Tensor dev = host.to(Device::cuda());
  return dtype == DType::bf16 ? dev.to(DType::bf16) : dev;
}

// Milliseconds of fn() on the stream, median of `reps` after two warm-ups.
template <class F>
double time_ms(int reps, F&& fn) {
  cudaEvent_t start, stop;
  cuda::check(cudaEventCreate(&start), "cudaEventCreate");
  cuda::check(cudaEventCreate(&stop), "cudaEventCreate");
  for (int i = 0; i < 2; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    cuda::check(cudaEventRecord(start, cuda::stream()), "cudaEventRecord");
    fn();
    cuda::check(cudaEventRecord(stop, cuda::stream()), "cudaEventRecord");
    cuda::check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float t = 0;
    cuda::check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cuda::check(cudaEventDestroy(start), "cudaEventDestroy");
  cuda::check(cudaEventDestroy(stop), "cudaEventDestroy");
  return median(ms);
}

struct Timing {
  double fwd_ms, fwdbwd_ms;
};

// One variant, one sequence dtype: the full op signature (D skip, z gate, delta_bias, softplus, as in Mamba).
template <class In>
Timing run(const ScanCudaKernels& k, const Options& o, DType seq) {
  const int64_t B = o.B, D = o.D, L = o.L, N = o.N;
  const Tensor u = device_randn({B, D, L}, seq, 1), delta = device_randn({B, D, L}, seq, 2, 0.5, -1.0);
  const Tensor A_log = device_randn({D, N}, DType::f32, 3, 0.5, 1.0);
  const Tensor Bm = device_randn({B, N, L}, seq, 4), Cm = device_randn({B, N, L}, seq, 5);
  const Tensor Dskip = device_randn({D}, DType::f32, 6), z = device_randn({B, D, L}, seq, 7);
  const Tensor bias = device_randn({D}, DType::f32, 8, 0.3), dout = device_randn({B, D, L}, seq, 9);
  cuda::ScanArgs<In, float> a;
  a.B = B, a.D = D, a.L = L, a.N = N;
  a.u = u.device_data<In>(), a.delta = delta.device_data<In>(), a.A_log = A_log.device_data<float>();
  a.Bm = Bm.device_data<In>(), a.Cm = Cm.device_data<In>(), a.Dskip = Dskip.device_data<float>();
  a.z = z.device_data<In>(), a.delta_bias = bias.device_data<float>(), a.softplus = true;

  const Tensor out = empty({B, D, L}, seq, Device::cuda());
  const Tensor ckpt = empty({k.checkpoint_elems(B, D, L, N)}, DType::f32, Device::cuda());
  std::vector<Tensor> grads;  // du, ddelta, dB, dC, dz (sequence dtype); dA_log, dDskip, ddelta_bias (f32)
  for (const Shape& s : {Shape{B, D, L}, Shape{B, D, L}, Shape{B, N, L}, Shape{B, N, L}, Shape{B, D, L}})
    grads.push_back(empty(s, seq, Device::cuda()));
  for (const Shape& s : {Shape{D, N}, Shape{D}, Shape{D}}) grads.push_back(empty(s, DType::f32, Device::cuda()));
  cuda::ScanGradArgs<In, float> g;
  g.du = grads[0].device_data<In>(), g.ddelta = grads[1].device_data<In>(), g.dB = grads[2].device_data<In>();
  g.dC = grads[3].device_data<In>(), g.dz = grads[4].device_data<In>(), g.dA_log = grads[5].device_data<float>();
  g.dDskip = grads[6].device_data<float>(), g.ddelta_bias = grads[7].device_data<float>();

  auto forward = [&] { k.forward<In>()(a, out.device_data<In>(), nullptr, ckpt.device_data<float>()); };
  Timing t;
  t.fwd_ms = time_ms(o.reps, forward);
  t.fwdbwd_ms = time_ms(o.reps, [&] {
    forward();
    k.backward<In>()(a, dout.device_data<In>(), nullptr, ckpt.device_data<float>(), g);
  });
  return t;
}

int bench_main(const Options& o) {
  std::vector<std::string> variants;
  std::stringstream ss(o.variants);
  for (std::string v; std::getline(ss, v, ',');) variants.push_back(v);
  std::printf(
      "selective scan fwd / fwd+bwd, B=%lld D=%lld L=%lld N=%lld, softplus + delta_bias + D + z, median of %d\n",
      (long long)o.B, (long long)o.D, (long long)o.L, (long long)o.N, o.reps);
  std::map<std::string, Timing> results;
  std::string json = "{";
  for (const DType seq : {DType::f32, DType::bf16}) {
    const std::string tname = seq == DType::f32 ? "f32" : "bf16";
    for (const std::string& v : variants) {
      const ScanCudaKernels k = selective_scan_cuda_table().get(v);
      const Timing t = seq == DType::f32 ? run<float>(k, o, seq) : run<cuda::bfloat16_t>(k, o, seq);
      results[v + "_" + tname] = t;
      json += cat(json.size() > 1 ? ", " : "", "\"", v, "_", tname, "_fwd_ms\": ", t.fwd_ms, ", \"", v, "_", tname,
                  "_fwdbwd_ms\": ", t.fwdbwd_ms);
    }
  }
  std::printf("%-18s %-5s %12s %14s %20s\n", "variant", "dtype", "fwd ms", "fwd+bwd ms", "vs cuda_sequential");
  for (const auto& [key, t] : results) {
    const size_t us = key.rfind('_');
    const std::string v = key.substr(0, us), tname = key.substr(us + 1);
    const auto base = results.find("cuda_sequential_" + tname);
    std::string ratio = "-";
    if (base != results.end()) ratio = cat(base->second.fwdbwd_ms / t.fwdbwd_ms, "x");
    std::printf("%-18s %-5s %12.3f %14.3f %20s\n", v.c_str(), tname.c_str(), t.fwd_ms, t.fwdbwd_ms, ratio.c_str());
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}

#endif  // HUBMAMBA_WITH_CUDA

}  // namespace
}  // namespace hm::bench

int main(int argc, char** argv) {
  const hm::bench::Options o = hm::bench::parse(argc, argv);
  if (!hm::device_available(hm::DeviceType::cuda)) {
    std::printf("skipped: no GPU\n");
    return 0;
  }
#ifdef HUBMAMBA_WITH_CUDA
  return hm::bench::bench_main(o);
#else
  return 0;
#endif
}
