// Conv benchmarks against PyTorch 1.13 on the CPU at the same thread count (DESIGN.md 7).
//
//   ./build/bench_conv [--threads=2] [--reps=5] [--no_torch] [--scalar]
//
// Cases (ops-level calls, tape included, f32):
//   stem0   HuBERT CNN layer 0: x (8, 1, 64000) -> (8, 512, 12799), k=10, s=5, no bias. Forward, and
//           forward+backward with the waveform not requiring grad (backward = dW only), as in training.
//           FLOPs: 2*8*512*12799*10 = 1.05 GFLOP per pass; the (8, 512, 12799) f32 output alone is 210 MB.
//   dw31    Conformer depthwise conv: x (8, 256, 400), w (256, 1, 31), same padding, no bias; fwd and fwd+bwd
//           (dX and dW). 2*8*256*400*31 = 51 MFLOP per pass.
// Every case runs each variant of its kernel table (the scalar reference only with --scalar, which then also
// prints each variant's speed-up over it). The PyTorch numbers come from bench/pytorch_conv.py, run by this program
// with the same thread count; the table at the end prints torch_ms / ours_ms (>= 1 means hubmamba is faster).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "bench/bench_util.h"
#include "cpu/parallel.h"
#include "engine/rng.h"
#include "ops/conv.h"

namespace {

using hm::Tensor;

struct Problem {
  Tensor x, w, gy;
  hm::Conv1dParams p;
};

Problem stem_problem() {
  hm::Generator gen(1);
  return {hm::randn({8, 1, 64000}, hm::DType::f32, gen),
          hm::randn({512, 1, 10}, hm::DType::f32, gen),
          hm::randn({8, 512, 12799}, hm::DType::f32, gen),
          {.stride = 5}};
}

Problem dw_problem() {
  hm::Generator gen(2);
  return {hm::randn({8, 256, 400}, hm::DType::f32, gen), hm::randn({256, 1, 31}, hm::DType::f32, gen),
          hm::randn({8, 256, 400}, hm::DType::f32, gen), hm::conv1d_params(1, 15, 1, 256)};
}

// Forward only (no tape), or forward + backward with `grad_x` deciding whether x takes a gradient.
void run_case(benchmark::State& state, Problem pr, const std::string& table, const std::string& variant, bool backward,
              bool grad_x) {
  hm::set_kernel_overrides(table + "=" + variant);
  pr.w.requires_grad_(backward);
  pr.x.requires_grad_(backward && grad_x);
  auto step = [&] {
    Tensor y = hm::conv1d(pr.x, pr.w, Tensor(), pr.p);
    if (backward) {
      y.backward(pr.gy);
      pr.w.zero_grad();
      if (grad_x) pr.x.zero_grad();
    }
    benchmark::DoNotOptimize(y.raw_data());
  };
  step();  // warm-up: allocator cache, OpenBLAS thread start
  for (auto _ : state) step();
}

// `case median_ms` lines from bench/pytorch_conv.py, or none (with a message) when it fails.
std::map<std::string, double> torch_baseline(int threads, int reps) {
  const auto out = hm::bench::python_output(hm::bench::bench_file("pytorch_conv.py"),
                                            "--threads " + std::to_string(threads) + " --reps " + std::to_string(reps));
  if (!out) std::cerr << "bench_conv: bench/pytorch_conv.py failed; no PyTorch baseline\n";
  return out ? hm::bench::name_values(*out) : std::map<std::string, double>{};
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  int threads = 2, reps = 5;
  bool torch = true, scalar = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0)
      threads = std::stoi(a.substr(10));
    else if (a.rfind("--reps=", 0) == 0)
      reps = std::stoi(a.substr(7));
    else if (a == "--no_torch")
      torch = false;
    else if (a == "--scalar")
      scalar = true;
    else {
      std::cerr << "bench_conv: unknown argument " << a << "\n";
      return 2;
    }
  }
  hm::cpu::set_num_threads(threads);
  std::cout << "threads " << threads << ", median of " << reps << " runs\n";

  struct Case {
    const char* name;
    Problem (*make)();
    const char* table;
    bool grad_x;
  };
  const Case cases[] = {{"stem0", stem_problem, "conv1d_dense", false}, {"dw31", dw_problem, "conv1d_depthwise", true}};
  std::map<std::string, std::string> best;  // case -> benchmark name of the default (selected) variant
  for (const Case& c : cases) {
    hm::KernelTableBase* table = nullptr;
    for (hm::KernelTableBase* t : hm::kernel_tables())
      if (t->op() == c.table) table = t;
    for (const std::string& v : table->variants()) {
      if (v == "scalar" && !scalar) continue;
      for (const bool bwd : {false, true}) {
        const std::string key = std::string(c.name) + (bwd ? "_fwdbwd" : "_fwd");
        const std::string name = key + "/" + v;
        if (v == table->selected()) best[key] = name;
        benchmark::RegisterBenchmark(
            name.c_str(), [c, v, bwd](benchmark::State& s) { run_case(s, c.make(), c.table, v, bwd, c.grad_x); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(1)
            ->Repetitions(reps)
            ->ReportAggregatesOnly(true);
      }
    }
  }
  hm::bench::MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  if (scalar) {  // every variant side by side: speed-up over the scalar reference
    std::printf("\n%-36s %12s %10s\n", "variant", "median ms", "vs scalar");
    for (const auto& [name, m] : reporter.medians) {
      const auto ref = reporter.medians.find(name.substr(0, name.find('/')) + "/scalar");
      if (ref != reporter.medians.end())
        std::printf("%-36s %12.2f %9.2fx\n", name.c_str(), m.real, ref->second.real / m.real);
    }
  }
  if (!torch) return 0;
  const auto base = torch_baseline(threads, reps);
  std::printf("\n%-14s %-28s %12s %12s %8s\n", "case", "hubmamba variant", "hubmamba ms", "pytorch ms", "ratio");
  for (const auto& [key, name] : best) {
    const auto ours = reporter.medians.find(name);
    const auto theirs = base.find(key);
    if (ours == reporter.medians.end() || theirs == base.end()) continue;
    std::printf("%-14s %-28s %12.2f %12.2f %7.2fx\n", key.c_str(), name.c_str(), ours->second.real, theirs->second,
                theirs->second / ours->second.real);
  }
  return 0;
}
