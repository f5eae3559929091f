// MINE wall time per (utterance, layer) = one estimate() call (SPEC.md 8: 100 epochs, minibatch 128, Adam 1e-4,
// statistics network 2D-100-100-1) vs the PyTorch 1.13 re-implementation of the paper's code
// (bench/pytorch_mine.py, run as a subprocess on the same .npy inputs in the same run), at 1 and 2 threads,
// median over repeats after one warm-up call. Also the analysis' two ways of using 2 cores for many calls:
// utterances in parallel (one call per core, single-threaded kernels) vs one call at a time with 2-thread kernels.
//   ./build/bench_mine [--frames 250] [--dim 192] [--epochs 100] [--repeats 5] [--threads 1,2] [--calls 8]
//                      [--variants blas,scalar] [--no-pytorch]
// Inputs: x ~ N(0, 1) (T, D), y = 0.8 x + 0.6 e, written to /tmp/hubmamba_mine_{x,y}.npy for the Python side.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "cpu/parallel.h"
#include "engine/npy.h"
#include "engine/rng.h"
#include "ops/registry.h"
#include "train/mine.h"

namespace {

using hm::bench::median;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int64_t frames = 250, dim = 192, epochs = 100, repeats = 5, calls = 8;
    std::vector<int> thread_counts = {1, 2};
    std::vector<std::string> variants = {"blas"};
    bool pytorch = true;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() {
        hm::check(i + 1 < argc, a, " needs a value");
        return std::string(argv[++i]);
      };
      if (a == "--frames")
        frames = std::stoll(next());
      else if (a == "--dim")
        dim = std::stoll(next());
      else if (a == "--epochs")
        epochs = std::stoll(next());
      else if (a == "--repeats")
        repeats = std::stoll(next());
      else if (a == "--calls")
        calls = std::stoll(next());
      else if (a == "--variants")
        variants = split(next());
      else if (a == "--no-pytorch")
        pytorch = false;
      else if (a == "--threads") {
        thread_counts = hm::bench::parse_int_list(next());
      } else if (a == "--help") {
        std::printf("see the comment at the top of bench/bench_mine.cpp\n");
        return 0;
      } else {
        hm::check(false, "bench_mine: unknown option ", a);
      }
    }
    hm::Generator gen(42);
    const hm::Tensor x = hm::randn({frames, dim}, hm::DType::f32, gen),
                     e = hm::randn({frames, dim}, hm::DType::f32, gen);
    hm::Tensor y = hm::empty({frames, dim});  // (T, D)
    for (int64_t i = 0; i < frames * dim; ++i)
      y.data<float>()[i] = 0.8f * x.data<float>()[i] + 0.6f * e.data<float>()[i];
    const std::string xp = "/tmp/hubmamba_mine_x.npy", yp = "/tmp/hubmamba_mine_y.npy";
    hm::save_npy(xp, x);
    hm::save_npy(yp, y);
    hm::MineConfig cfg;
    cfg.epochs = epochs;
    std::printf("inputs: (%lld, %lld) x2, %lld epochs, minibatch 128 (%lld per epoch), Adam 1e-4; load %s\n",
                (long long)frames, (long long)dim, (long long)epochs, (long long)std::max<int64_t>(1, frames / 128),
                hm::bench::load_average().c_str());
    std::printf("%-22s %7s %14s %10s\n", "impl", "threads", "median s/call", "MI nats");
    // Our calls run before and after the Python baseline and the median is over both halves, so a change in the
    // machine's load (it is shared) during the run hits both implementations alike.
    auto time_ours = [&](const std::string& variant, std::vector<double>& secs) {
      hm::set_kernel_overrides("mine_dv=" + variant);
      double mi = 0;
      for (int64_t r = 0; r <= repeats; ++r) {
        cfg.seed = uint64_t(r);
        hm::MineEstimator est(dim, dim, cfg);
        const auto t0 = std::chrono::steady_clock::now();
        mi = est.estimate(x, y);
        if (r > 0) secs.push_back(seconds_since(t0));  // call 0 warms up
      }
      hm::clear_kernel_overrides();
      return mi;
    };
    for (int threads : thread_counts) {
      hm::cpu::set_num_threads(threads);
      std::vector<double> ours;
      double mi = time_ours(variants.front(), ours);
      double pt = 0, pt_mi = 0;  // median s/call, MI of its first timed call
      if (pytorch) {
        const std::string args = "--x " + xp + " --y " + yp + " --epochs " + std::to_string(epochs) + " --threads " +
                                 std::to_string(threads) + " --repeats " + std::to_string(repeats);
        const auto out = hm::bench::python_output(hm::bench::bench_file("pytorch_mine.py"), args);
        if (!out) {
          std::printf("pytorch baseline failed (bench/pytorch_mine.py %s); skipping\n", args.c_str());
          pytorch = false;
        } else {
          pt = hm::bench::json_number(*out, "median_s");
          const size_t at = out->find("\"mi_nats\": [");
          pt_mi = at == std::string::npos ? 0.0 : std::strtod(out->c_str() + at + 12, nullptr);
        }
        mi = time_ours(variants.front(), ours);
      }
      std::printf("%-22s %7d %14.4f %10.4f\n", ("hubmamba mine_dv=" + variants.front()).c_str(), threads, median(ours),
                  mi);
      for (size_t v = 1; v < variants.size(); ++v) {
        std::vector<double> secs;
        const double mv = time_ours(variants[v], secs);
        std::printf("%-22s %7d %14.4f %10.4f\n", ("hubmamba mine_dv=" + variants[v]).c_str(), threads, median(secs),
                    mv);
      }
      if (pt > 0)
        std::printf("%-22s %7d %14.4f %10.4f   -> hubmamba %.2fx faster\n", "pytorch 1.13", threads, pt, pt_mi,
                    pt / median(ours));
    }
    // Many calls on 2 cores: the analysis runs utterances in parallel (workers) or one at a time (threaded kernels).
    if (calls > 0) {
      hm::cpu::set_num_threads(2);
      auto run_calls = [&](int workers) {
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
        for (int64_t c = 0; c < calls; ++c) {
          hm::MineConfig mc = cfg;
          mc.seed = uint64_t(c);
          hm::MineEstimator(dim, dim, mc).estimate(x, y);
        }
        return seconds_since(t0) / double(calls);
      };
      const double par = run_calls(2), seq = run_calls(1);
      std::printf(
          "%lld calls on 2 threads: %.4f s/call with 2 workers x 1-thread kernels, %.4f s/call with 1 worker x "
          "2-thread kernels (%.2fx)\n",
          (long long)calls, par, seq, seq / par);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_mine: %s\n", e.what());
    return 1;
  }
}
