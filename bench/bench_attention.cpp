// Attention forward and forward+backward: every `attention` kernel variant vs PyTorch 1.13 on the CPU at the same
// thread count (1 and 2), float32, B=8 H=12 T=400 Dh=64 (HuBERT Base heads at ~8 s of audio).
//
//   ./build/bench_attention                      (from the repository root; ~25 s CPU on the 2-core VM)
//   ./build/bench_attention --torch=none         (skip the PyTorch baseline)
//
// The PyTorch baseline (bench/pytorch_attention.py, the explicit softmax(q k^T * scale + mask) v path with
// autograd) runs in the same invocation; the summary prints torch / ours (> 1 = we are faster) for the median wall
// time and, in parentheses, the median process CPU time, which stays meaningful when other jobs share the cores.
// Configs: plain (no mask, no dropout) and train (key padding on the last 10% of keys of every other utterance,
// dropout 0.1, training). The scalar reference (~7x slower than blas_blocked, ~1 s per step at the full shape)
// runs on B=1 H=2 next to blas_blocked and PyTorch on the same small shape, to keep the bench short.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "cpu/parallel.h"
#include "engine/autograd.h"
#include "ops/attention.h"

namespace {

using hm::Tensor;

struct Shape4 {
  int64_t B, H, T, Dh;
};
constexpr Shape4 kFull{8, 12, 400, 64};
constexpr Shape4 kSmall{1, 2, 400, 64};

// Inputs shared by all runs of one shape (generated once; requires_grad leaves).
struct Inputs {
  Tensor q, k, v, dout, pad;
};
const Inputs& inputs(const Shape4& s) {
  static std::map<int64_t, std::unique_ptr<Inputs>> cache;
  auto& slot = cache[s.B * s.H];
  if (!slot) {
    hm::Generator gen(0);
    slot = std::make_unique<Inputs>();
    slot->q = hm::randn({s.B, s.H, s.T, s.Dh}, hm::DType::f32, gen);
    slot->k = hm::randn({s.B, s.H, s.T, s.Dh}, hm::DType::f32, gen);
    slot->v = hm::randn({s.B, s.H, s.T, s.Dh}, hm::DType::f32, gen);
    slot->dout = hm::randn({s.B, s.H, s.T, s.Dh}, hm::DType::f32, gen);
    for (Tensor* t : {&slot->q, &slot->k, &slot->v}) t->requires_grad_(true);
    slot->pad = hm::zeros({s.B, s.T}, hm::DType::u8);
    for (int64_t b = 1; b < s.B; b += 2)
      for (int64_t j = s.T - s.T / 10; j < s.T; ++j) slot->pad.data<uint8_t>()[b * s.T + j] = 1;
  }
  return *slot;
}

void run_attention(benchmark::State& state, Shape4 s, const std::string& variant, int threads, bool train,
                   bool backward) {
  hm::cpu::set_num_threads(threads);
  hm::set_kernel_overrides("attention=" + variant);
  const Inputs& in = inputs(s);
  hm::Generator gen(1);
  for (auto _ : state) {
    for (const Tensor* t : {&in.q, &in.k, &in.v}) const_cast<Tensor*>(t)->zero_grad();
    if (backward) {
      Tensor out = hm::attention(in.q, in.k, in.v, train ? in.pad : Tensor(), false, train ? 0.1 : 0.0, train, gen);
      out.backward(in.dout);
    } else {
      hm::NoGradGuard ng;
      Tensor out = hm::attention(in.q, in.k, in.v, train ? in.pad : Tensor(), false, train ? 0.1 : 0.0, train, gen);
      benchmark::DoNotOptimize(out.raw_data());
    }
  }
  // Useful flops: 2 GEMMs forward, 4 backward (the recompute GEMM is not counted).
  const double flops = 4.0 * double(s.B * s.H) * double(s.T) * double(s.T) * double(s.Dh) * (backward ? 3.0 : 1.0);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"].value /= 1e9;
}

// Runs the PyTorch script with `args`; returns "config threads mode" -> median (wall ms, process CPU ms).
std::map<std::string, std::pair<double, double>> torch_baseline(const std::string& script, const std::string& args) {
  std::map<std::string, std::pair<double, double>> ms;
  if (script == "none") return ms;
  const std::string cmd = "/usr/bin/python3 " + script + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return ms;
  char line[512];
  while (fgets(line, sizeof line, pipe)) {
    std::cout << "  " << line;
    char config[32], mode[32];
    int threads = 0;
    double wall = 0, cpu = 0;
    if (std::sscanf(line, "torch config=%31s threads=%d mode=%31s median_ms=%lf cpu_ms=%lf", config, &threads, mode,
                    &wall, &cpu) == 5)
      ms[std::string(config) + " " + std::to_string(threads) + " " + mode] = {wall, cpu};
  }
  pclose(pipe);
  return ms;
}

std::string shape_tag(const Shape4& s) {
  std::ostringstream os;  // (not string operator+: GCC 12's -Wrestrict false positive on it)
  os << "B" << s.B << "H" << s.H << "T" << s.T << "D" << s.Dh;
  return os.str();
}

struct Entry {
  std::string name, config, mode, variant;
  Shape4 shape;
  int threads;
};

Entry add_benchmark(const Shape4& s, const std::string& variant, const std::string& config, int threads,
                    const std::string& mode, int repetitions) {
  const std::string name =
      "attention/" + config + "/" + shape_tag(s) + "/" + variant + "/threads:" + std::to_string(threads) + "/" + mode;
  const bool train = config == "train", bwd = mode == "fwdbwd";
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& st) { run_attention(st, s, variant, threads, train, bwd); })
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1)
      ->Repetitions(repetitions)
      ->ReportAggregatesOnly(true)
      ->UseRealTime()
      ->MeasureProcessCPUTime();
  return {name, config, mode, variant, s, threads};
}

}  // namespace

int main(int argc, char** argv) {
  std::string script = "bench/pytorch_attention.py";
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--torch=", 0) == 0)
      script = a.substr(8);
    else
      rest.push_back(argv[i]);
  }
  int rest_argc = int(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());

  // Full shape: the fast variant, both configs, 1 and 2 threads, forward and forward+backward.
  std::vector<Entry> entries;
  for (const std::string config : {"plain", "train"})
    for (int threads : {1, 2})
      for (const std::string mode : {"fwd", "fwdbwd"})
        entries.push_back(add_benchmark(kFull, "blas_blocked", config, threads, mode, 5));
  // Small shape: every variant side by side (the scalar reference included).
  for (const std::string& variant : hm::attention_table().variants())
    entries.push_back(add_benchmark(kSmall, variant, "plain", 1, "fwdbwd", 3));

  std::cout << "PyTorch baseline " << script << " (explicit softmax(q k^T * scale + mask) v with autograd):\n";
  std::map<std::string, std::map<std::string, std::pair<double, double>>> torch_ms;  // shape -> key -> ms
  torch_ms[shape_tag(kFull)] =
      torch_baseline(script, "--shape 8,12,400,64 --threads 1,2 --configs plain,train --reps 3");
  torch_ms[shape_tag(kSmall)] = torch_baseline(script, "--shape 1,2,400,64 --threads 1 --configs plain --reps 3");
  hm::bench::MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  std::printf("\nfloat32 median ms: wall (process CPU); ratio = torch / ours (> 1 = faster than PyTorch 1.13)\n");
  for (const Entry& e : entries) {
    const auto ours = reporter.medians.find(e.name);
    if (ours == reporter.medians.end()) continue;
    const auto [wall, cpu] = ours->second;
    std::printf("  %-13s %-5s threads=%d %-6s %-12s %8.1f (%8.1f)", shape_tag(e.shape).c_str(), e.config.c_str(),
                e.threads, e.mode.c_str(), e.variant.c_str(), wall, cpu);
    const auto& theirs_map = torch_ms[shape_tag(e.shape)];
    const auto theirs = theirs_map.find(e.config + " " + std::to_string(e.threads) + " " + e.mode);
    if (theirs != theirs_map.end())
      std::printf("  torch %8.1f (%8.1f)  ratio %5.2f (%5.2f)", theirs->second.first, theirs->second.second,
                  theirs->second.first / wall, theirs->second.second / cpu);
    std::printf("\n");
  }
  benchmark::Shutdown();
  return 0;
}
