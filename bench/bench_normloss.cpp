// Norm / loss benchmarks against PyTorch 1.13 on the CPU at the same thread count (DESIGN.md 7).
//
//   ./build/bench_normloss [--threads=2] [--reps=5] [--no_torch]
//
// Cases (ops-level calls, tape included, f32; `_fwd` = forward only, `_fwdbwd` = forward + backward):
//   ln     layer_norm x (3200, 768) + weight + bias (HuBERT Base: 8 utterances x 400 frames). Each variant of the
//          layer_norm_{forward,backward}_f32 tables; the scalar reference is the in-run baseline. Per pass it reads
//          and writes 2.5 M floats (~20 MB): memory-bound, floor ~2-3 ms at ~10 GB/s.
//   gn     group_norm x (4, 512, 3199), GroupNorm(512, 512): HuBERT's CNN layer 0 output for 4 x 1 s of audio.
//   bn     batch_norm (8, 256, 400) training with a padding mask (Conformer conv module).
//   glu    glu (8, 512, 400) over dim 1 (Conformer conv module).
//   cos    cosine_similarity (1600, 1, 256) x (1, 500, 256) (HuBERT logits, 500 clusters): 2 x 0.2 GFLOP fwd.
//   ce     cross_entropy (1600, 500) logits, mean.
//   ctc    ctc_loss T 400, B 8, C 32, target length 80, mean.
// The PyTorch numbers come from bench/pytorch_normloss.py, run by this program with the same thread count; the
// table at the end prints torch_ms / ours_ms (>= 1 means hubmamba is faster) and highway vs scalar for ln.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "cpu/parallel.h"
#include "engine/rng.h"
#include "ops/ops.h"

namespace {

using hm::DType;
using hm::Tensor;

// One step of a case: builds the outputs from leaves, optionally backpropagates, clears gradients.
using Step = std::function<void(bool backward)>;

Tensor leaf(const hm::Shape& s, uint64_t seed, bool grad) {
  hm::Generator gen(seed);
  Tensor t = hm::randn(s, DType::f32, gen);
  t.requires_grad_(grad);
  return t;
}

void finish(const Tensor& y, bool backward, std::initializer_list<Tensor> leaves) {
  if (backward) {
    y.backward(y.numel() == 1 ? Tensor() : hm::ones(y.shape(), y.dtype()));
    for (Tensor t : leaves) t.zero_grad();
  }
  benchmark::DoNotOptimize(y.raw_data());
}

Step layer_norm_step(bool bwd) {
  Tensor x = leaf({3200, 768}, 1, bwd), w = leaf({768}, 2, bwd), b = leaf({768}, 3, bwd);
  return [=](bool backward) { finish(hm::layer_norm(x, w, b), backward, {x, w, b}); };
}
Step group_norm_step(bool bwd) {
  Tensor x = leaf({4, 512, 3199}, 4, bwd), w = leaf({512}, 5, bwd), b = leaf({512}, 6, bwd);
  return [=](bool backward) { finish(hm::group_norm(x, 512, w, b), backward, {x, w, b}); };
}
Step batch_norm_step(bool bwd) {
  Tensor x = leaf({8, 256, 400}, 7, bwd), w = leaf({256}, 8, bwd), b = leaf({256}, 9, bwd);
  Tensor rm = hm::zeros({256}), rv = hm::ones({256});
  Tensor mask = hm::zeros({8, 400}, DType::u8);
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t l = 400 - 20 * i; l < 400; ++l) mask.data<uint8_t>()[i * 400 + l] = 1;
  return [=](bool backward) { finish(hm::batch_norm(x, w, b, rm, rv, true, 0.1, 1e-5, mask), backward, {x, w, b}); };
}
Step glu_step(bool bwd) {
  Tensor x = leaf({8, 512, 400}, 10, bwd);
  return [=](bool backward) { finish(hm::glu(x, 1), backward, {x}); };
}
Step cosine_step(bool bwd) {
  Tensor a = leaf({1600, 1, 256}, 11, bwd), e = leaf({1, 500, 256}, 12, bwd);
  return [=](bool backward) { finish(hm::cosine_similarity(a, e, -1), backward, {a, e}); };
}
Step cross_entropy_step(bool bwd) {
  Tensor x = leaf({1600, 500}, 13, bwd);
  hm::Generator gen(14);
  std::vector<int64_t> t(1600);
  for (auto& v : t) v = int64_t(gen.next_below(500));
  Tensor target = hm::from_vector<int64_t>(t, {1600});
  return [=](bool backward) { finish(hm::cross_entropy(x, target), backward, {x}); };
}
Step ctc_step(bool bwd) {
  // Log-softmaxed scores built once outside the timed region (the log_softmax op belongs to another family).
  hm::Generator gen(15);
  Tensor z = hm::randn({400, 8, 32}, DType::f32, gen);
  float* p = z.data<float>();
  for (int64_t r = 0; r < 400 * 8; ++r) {
    double s = 0;
    for (int64_t c = 0; c < 32; ++c) s += std::exp(double(p[r * 32 + c]));
    for (int64_t c = 0; c < 32; ++c) p[r * 32 + c] -= float(std::log(s));
  }
  z.requires_grad_(bwd);
  std::vector<int64_t> tg(8 * 80);
  for (auto& v : tg) v = 1 + int64_t(gen.next_below(31));
  Tensor targets = hm::from_vector<int64_t>(tg, {8, 80});
  Tensor il = hm::full({8}, 400, DType::i64), tl = hm::full({8}, 80, DType::i64);
  return [=](bool backward) { finish(hm::ctc_loss(z, targets, il, tl), backward, {z}); };
}

void run_case(benchmark::State& state, Step (*make)(bool), bool backward) {
  Step step = make(backward);
  step(backward);  // warm-up: allocator cache, thread start
  for (auto _ : state) step(backward);
}

// Captures the median of each benchmark (ms) while printing the usual console table.
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> median_ms;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.aggregate_name == "median") median_ms[r.run_name.function_name] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
};

// `case median_ms` lines from bench/pytorch_normloss.py.
std::map<std::string, double> torch_baseline(int threads, int reps) {
  std::map<std::string, double> out;
  const auto script = std::filesystem::path(__FILE__).parent_path() / "pytorch_normloss.py";
  const std::string cmd = "/usr/bin/python3 " + script.string() + " --threads " + std::to_string(threads) + " --reps " +
                          std::to_string(reps);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char name[64];
  double ms = 0;
  while (std::fscanf(pipe, "%63s %lf", name, &ms) == 2) out[name] = ms;
  if (pclose(pipe) != 0) std::cerr << "bench_normloss: '" << cmd << "' failed; no PyTorch baseline\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  int threads = 2, reps = 5;
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0)
      threads = std::stoi(a.substr(10));
    else if (a.rfind("--reps=", 0) == 0)
      reps = std::stoi(a.substr(7));
    else if (a == "--no_torch")
      torch = false;
    else {
      std::cerr << "bench_normloss: unknown argument " << a << "\n";
      return 2;
    }
  }
  hm::cpu::set_num_threads(threads);
  std::cout << "threads " << threads << ", median of " << reps << " runs\n";

  auto add = [&](const std::string& name, Step (*make)(bool), bool backward) {
    benchmark::RegisterBenchmark(name.c_str(), [make, backward](benchmark::State& s) { run_case(s, make, backward); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(3)
        ->Repetitions(reps)
        ->ReportAggregatesOnly(true);
  };
  // Layer norm: every variant, selected through the override mechanism inside the benchmark.
  const std::string ln_selected = hm::layer_norm_forward_table<float>().selected();
  for (const std::string& v : hm::layer_norm_forward_table<float>().variants())
    for (const bool bwd : {false, true}) {
      const std::string name = std::string("ln") + (bwd ? "_fwdbwd" : "_fwd") + "/" + v;
      benchmark::RegisterBenchmark(
          name.c_str(),
          [v, bwd](benchmark::State& s) {
            hm::set_kernel_overrides("layer_norm_forward_f32=" + v + ",layer_norm_backward_f32=" + v);
            run_case(s, layer_norm_step, bwd);
          })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(3)
          ->Repetitions(reps)
          ->ReportAggregatesOnly(true);
    }
  const std::pair<const char*, Step (*)(bool)> others[] = {{"gn", group_norm_step},    {"bn", batch_norm_step},
                                                           {"glu", glu_step},          {"cos", cosine_step},
                                                           {"ce", cross_entropy_step}, {"ctc", ctc_step}};
  for (const auto& [name, make] : others) {
    add(std::string(name) + "_fwd", make, false);
    add(std::string(name) + "_fwdbwd", make, true);
  }
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  hm::set_kernel_overrides("layer_norm_forward_f32=" + ln_selected + ",layer_norm_backward_f32=" + ln_selected);

  const auto& med = reporter.median_ms;
  std::printf("\nlayer_norm highway vs scalar (same run): fwd %.2fx, fwd+bwd %.2fx\n",
              med.at("ln_fwd/scalar") / med.at("ln_fwd/highway"),
              med.at("ln_fwdbwd/scalar") / med.at("ln_fwdbwd/highway"));
  if (!torch) return 0;
  const auto base = torch_baseline(threads, reps);
  std::printf("\n%-12s %-22s %12s %12s %8s\n", "case", "hubmamba", "hubmamba ms", "pytorch ms", "ratio");
  for (const auto& [name, ms] : med) {
    std::string key = name.substr(0, name.find('/'));
    if (name.find('/') != std::string::npos && name.substr(name.find('/') + 1) != ln_selected) continue;
    const auto theirs = base.find(key);
    if (theirs == base.end()) continue;
    std::printf("%-12s %-22s %12.2f %12.2f %7.2fx\n", key.c_str(), name.c_str(), ms, theirs->second,
                theirs->second / ms);
  }
  return 0;
}
