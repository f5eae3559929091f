// Mini-batch k-means fit time and inertia vs scikit-learn's MiniBatchKMeans (bench/pytorch_kmeans.py, run as a
// subprocess on the same features in the same run), at 1 and 2 threads, median over seeds. Two settings:
//   fairseq: learn_kmeans.py's (max_iter 100, max_no_improvement 100): the ewa-inertia early stop decides the
//            step count, which varies from seed to seed (200-480 steps here) for both implementations;
//   fixed:   --fixed-iter passes with early stopping off, so both run exactly the same number of steps.
// The inertia of one fit depends on its seed (k-means++ draws, mini-batches; sd ~0.3 % here), and the two
// implementations draw different random numbers, so inertia is compared as mean +- sd over the seeds.
//   ./build/bench_kmeans [--frames 200000] [--k 100] [--n-init 3] [--repeats 5] [--fixed-iter 10]
//                        [--data F.npy] [--threads 1,2] [--no-sklearn]
// Features: 39-d MFCC+deltas (train/features.h) of deterministic speech-like audio (bench/speechlike.h), written
// to /tmp/hubmamba_kmeans_bench.npy for the Python side; --data uses an existing (n, D) float32 .npy instead.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/speechlike.h"
#include "cpu/parallel.h"
#include "engine/npy.h"
#include "train/features.h"
#include "train/kmeans.h"

namespace {

const char* kUsage =
    "usage: bench_kmeans [--frames 200000] [--k 100] [--n-init 3] [--repeats 5] [--fixed-iter 10] [--data F.npy]\n"
    "                    [--threads 1,2] [--no-sklearn]\n";

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double stddev(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size()));
}

hm::Tensor make_features(int64_t frames) {
  // 10 s utterances: 998 frames each.
  std::vector<std::vector<float>> wavs;
  for (int64_t got = 0, u = 0; got < frames; got += 998, ++u) wavs.push_back(hm::bench::speechlike(160000, 1000 + u));
  const auto feats = hm::feat::compute_features_batch(wavs, hm::feat::FeatureKind::mfcc39);
  hm::Tensor x = hm::empty({frames, 39});  // (frames, 39)
  float* px = x.data<float>();
  int64_t row = 0;
  for (const auto& f : feats)
    for (int64_t t = 0; t < f.size(0) && row < frames; ++t, ++row)
      std::copy(f.data<float>() + t * 39, f.data<float>() + (t + 1) * 39, px + row * 39);
  return x;
}

}  // namespace

int main(int argc, char** argv) try {
  int64_t frames = 200000, k = 100, n_init = 3, repeats = 5, fixed_iter = 10;
  std::string data;
  bool sklearn = true;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() {
      hm::check(i + 1 < argc, a, " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--frames")
      frames = std::stoll(next());
    else if (a == "--k")
      k = std::stoll(next());
    else if (a == "--n-init")
      n_init = std::stoll(next());
    else if (a == "--repeats")
      repeats = std::stoll(next());
    else if (a == "--threads")
      thread_counts = hm::bench::parse_int_list(next());
    else if (a == "--data")
      data = next();
    else if (a == "--fixed-iter")
      fixed_iter = std::stoll(next());
    else if (a == "--no-sklearn")
      sklearn = false;
    else if (a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    } else
      hm::check(false, "bench_kmeans: unknown option ", a, " (see --help)");
  }
  hm::Tensor x;
  std::string path = "/tmp/hubmamba_kmeans_bench.npy";
  if (!data.empty()) {
    x = hm::load_npy(data).contiguous();
    path = data;
  } else {
    hm::cpu::set_num_threads(2);
    x = make_features(frames);
    hm::save_npy(path, x);
  }
  std::printf("data: %s (%lld, %lld); k=%lld, batch 10000, n_init %lld, %lld seeds; load %s\n", path.c_str(),
              (long long)x.size(0), (long long)x.size(1), (long long)k, (long long)n_init, (long long)repeats,
              hm::bench::load_average().c_str());
  std::printf("%-8s %-10s %7s %12s %7s %9s %20s\n", "setting", "impl", "threads", "median fit s", "steps", "ms/step",
              "inertia/frame (sd)");
  for (const bool fixed : {false, true}) {
    const char* setting = fixed ? "fixed" : "fairseq";
    const int64_t max_iter = fixed ? fixed_iter : 100, max_no_improvement = fixed ? 0 : 100;
    for (int threads : thread_counts) {
      hm::cpu::set_num_threads(threads);
      std::vector<double> secs, inert, steps;
      for (int64_t seed = 0; seed < repeats; ++seed) {
        hm::feat::MiniBatchKMeansOptions opt;
        opt.n_clusters = k;
        opt.n_init = n_init;
        opt.max_iter = max_iter;
        opt.max_no_improvement = max_no_improvement;
        opt.seed = uint64_t(seed);
        const auto t0 = std::chrono::steady_clock::now();
        const hm::feat::KMeansResult r = hm::feat::fit_minibatch_kmeans(x, opt);
        secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        inert.push_back(r.inertia / double(x.size(0)));
        steps.push_back(double(r.n_steps));
      }
      const double ours_s = hm::bench::median(secs), ours_in = mean(inert), ours_steps = hm::bench::median(steps);
      std::printf("%-8s %-10s %7d %12.3f %7.0f %9.2f %12.3f (%5.3f)\n", setting, "hubmamba", threads, ours_s,
                  ours_steps, 1e3 * ours_s / ours_steps, ours_in, stddev(inert));
      if (!sklearn) continue;
      const std::string script = hm::bench::bench_file("pytorch_kmeans.py");
      const std::string args = "--data " + path + " --k " + std::to_string(k) + " --n-init " + std::to_string(n_init) +
                               " --threads " + std::to_string(threads) + " --repeats " + std::to_string(repeats) +
                               " --max-iter " + std::to_string(max_iter) + " --max-no-improvement " +
                               std::to_string(max_no_improvement);
      const auto json = hm::bench::python_output(script, args);
      if (!json) {
        std::printf("sklearn baseline failed (%s %s); skipping\n", script.c_str(), args.c_str());
        sklearn = false;
        continue;
      }
      using hm::bench::json_number;
      const double sk_s = json_number(*json, "median_s"), sk_in = json_number(*json, "mean_inertia");
      const double sk_steps = json_number(*json, "median_steps");
      std::printf(
          "%-8s %-10s %7d %12.3f %7.0f %9.2f %12.3f (%5.3f)   -> hubmamba %.2fx faster, mean inertia "
          "ratio %.4f\n",
          setting, "sklearn", threads, sk_s, sk_steps, 1e3 * sk_s / sk_steps, sk_in, json_number(*json, "sd_inertia"),
          sk_s / ours_s, ours_in / sk_in);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
  return 1;
}
