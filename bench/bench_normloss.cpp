// Norm / loss benchmarks against PyTorch 1.13 on the CPU at the same thread count (DESIGN.md 7).
//
//   ./build/bench_normloss [--threads=2] [--reps=5] [--no_torch]
//
// Cases (ops-level calls, tape included, f32; `_fwd` = forward only, `_fwdbwd` = forward + backward):
//   ln     layer_norm x (3200, 768) + weight + bias (HuBERT Base: 8 utterances x 400 frames). The forward reads and
//          writes 2.5 M floats (~20 MB) and does ~6 flops per element: bandwidth-bound.
//   gn     group_norm x (4, 512, 3199), GroupNorm(512, 512): HuBERT's CNN layer 0 output for 4 x 1 s of audio.
//   bn     batch_norm (8, 256, 400) training with a padding mask (Conformer conv module).
//   glu    glu (8, 512, 400) over dim 1 (Conformer conv module): 0.8 M sigmoids.
//   cos    cosine_similarity (1600, 1, 256) x (1, 500, 256) (HuBERT logits, 500 clusters): 2 x 0.2 GFLOP fwd.
//   ce     cross_entropy (1600, 500) logits, mean: 0.8 M exps forward, 0.8 M again backward.
//   ctc    ctc_loss T 400, B 8, C 32, target length 80, mean.
// ln, glu and ce run every variant of their f32 kernel tables (<family>_{forward,backward}_f32); the scalar
// reference is the in-run baseline ("highway vs scalar" table). The PyTorch numbers come from
// bench/pytorch_normloss.py, run by this program with the same thread count; the last table prints
// torch_ms / ours_ms (>= 1 means hubmamba is faster) for the default variants.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "bench/bench_util.h"
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

// `case median_ms` lines from bench/pytorch_normloss.py, or none (with a message) when it fails.
std::map<std::string, double> torch_baseline(int threads, int reps) {
  const auto out = hm::bench::python_output(hm::bench::bench_file("pytorch_normloss.py"),
                                            "--threads " + std::to_string(threads) + " --reps " + std::to_string(reps));
  if (!out) std::cerr << "bench_normloss: bench/pytorch_normloss.py failed; no PyTorch baseline\n";
  return out ? hm::bench::name_values(*out) : std::map<std::string, double>{};
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

  // Cases with kernel tables run once per variant ("<case>_<pass>/<variant>", selected through the override
  // mechanism: `family` names the f32 forward/backward tables "<family>_forward_f32" / "<family>_backward_f32");
  // the others once ("<case>_<pass>").
  struct Case {
    const char* name;
    Step (*make)(bool);
    const char* family;  // or nullptr
  };
  const Case cases[] = {{"ln", layer_norm_step, "layer_norm"},
                        {"gn", group_norm_step, nullptr},
                        {"bn", batch_norm_step, nullptr},
                        {"glu", glu_step, "glu"},
                        {"cos", cosine_step, nullptr},
                        {"ce", cross_entropy_step, "cross_entropy"},
                        {"ctc", ctc_step, nullptr}};
  auto overrides = [](const std::string& family, const std::string& v) {
    return family + "_forward_f32=" + v + "," + family + "_backward_f32=" + v;
  };
  std::map<std::string, std::string> selected;  // family -> default variant
  for (const Case& c : cases) {
    std::vector<std::string> variants = {""};
    if (c.family)
      for (hm::KernelTableBase* t : hm::kernel_tables())
        if (t->op() == std::string(c.family) + "_forward_f32")
          variants = t->variants(), selected[c.family] = t->selected();
    for (const std::string& v : variants)
      for (const bool bwd : {false, true}) {
        const std::string name = std::string(c.name) + (bwd ? "_fwdbwd" : "_fwd") + (v.empty() ? "" : "/" + v);
        const std::string family = c.family ? c.family : "";
        benchmark::RegisterBenchmark(name.c_str(),
                                     [c, v, bwd, family, overrides](benchmark::State& s) {
                                       if (!v.empty()) hm::set_kernel_overrides(overrides(family, v));
                                       run_case(s, c.make, bwd);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(3)
            ->Repetitions(reps)
            ->ReportAggregatesOnly(true);
      }
  }
  hm::bench::MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  for (const auto& [family, v] : selected) hm::set_kernel_overrides(overrides(family, v));

  const auto& med = reporter.medians;
  std::printf("\nhighway vs scalar (same run, scalar_ms / highway_ms):\n");
  for (const Case& c : cases) {
    if (!c.family) continue;
    for (const char* pass : {"_fwd", "_fwdbwd"}) {
      const std::string key = std::string(c.name) + pass;
      const auto sc = med.find(key + "/scalar"), hw = med.find(key + "/highway");
      if (sc != med.end() && hw != med.end())
        std::printf("  %-12s %8.2f ms -> %8.2f ms  %6.2fx\n", key.c_str(), sc->second.real, hw->second.real,
                    sc->second.real / hw->second.real);
    }
  }
  if (!torch) return 0;
  const auto base = torch_baseline(threads, reps);
  std::printf("\n%-12s %-22s %12s %12s %8s\n", "case", "hubmamba", "hubmamba ms", "pytorch ms", "ratio");
  for (const auto& [name, m] : med) {
    std::string key = name.substr(0, name.find('/'));
    if (name.find('/') != std::string::npos && name.substr(name.find('/') + 1) != "highway") continue;
    const auto theirs = base.find(key);
    if (theirs == base.end()) continue;
    std::printf("%-12s %-22s %12.2f %12.2f %7.2fx\n", key.c_str(), name.c_str(), m.real, theirs->second,
                theirs->second / m.real);
  }
  return 0;
}
