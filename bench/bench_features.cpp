// MFCC(+deltas) and fbank throughput as a real-time factor (audio seconds processed per wall second) at 1 and 2
// threads (threaded over utterances), against torchaudio 0.13 on the same waveforms (bench/pytorch_features.py,
// run as a subprocess in the same run). Medians over --repeats.
//   ./build/bench_features [--utterances 16] [--seconds 5] [--repeats 5] [--threads 1,2] [--no-torch]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/speechlike.h"
#include "cpu/parallel.h"
#include "engine/npy.h"
#include "train/features.h"

namespace {

const char* kUsage =
    "usage: bench_features [--utterances 16] [--seconds 5] [--repeats 5] [--threads 1,2] [--no-torch]\n";

}  // namespace

int main(int argc, char** argv) try {
  int64_t utterances = 16, repeats = 5;
  double seconds = 5;
  bool torch = true;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() {
      hm::check(i + 1 < argc, a, " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--utterances")
      utterances = std::stoll(next());
    else if (a == "--seconds")
      seconds = std::stod(next());
    else if (a == "--repeats")
      repeats = std::stoll(next());
    else if (a == "--threads")
      thread_counts = hm::bench::parse_int_list(next());
    else if (a == "--no-torch")
      torch = false;
    else if (a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    } else
      hm::check(false, "bench_features: unknown option ", a, " (see --help)");
  }
  const int64_t n = int64_t(seconds * 16000);
  std::vector<std::vector<float>> wavs;
  hm::Tensor all = hm::empty({utterances, n});  // (U, n) for the Python side
  for (int64_t u = 0; u < utterances; ++u) {
    wavs.push_back(hm::bench::speechlike(n, 500 + uint64_t(u)));
    std::copy(wavs.back().begin(), wavs.back().end(), all.data<float>() + u * n);
  }
  const std::string path = "/tmp/hubmamba_features_bench.npy";
  hm::save_npy(path, all);
  const double audio = double(utterances) * seconds;
  std::printf("%lld utterances x %.1f s = %.0f s of audio; power_spectrum=%s; load %s\n", (long long)utterances,
              seconds, audio, hm::feat::power_spectrum_table().selected().c_str(), hm::bench::load_average().c_str());
  std::printf("%-11s %-6s %7s %10s %14s\n", "impl", "kind", "threads", "median s", "audio-s / s");
  for (int threads : thread_counts) {
    hm::cpu::set_num_threads(threads);
    double ours[2];
    for (int k = 0; k < 2; ++k) {
      const auto kind = k == 0 ? hm::feat::FeatureKind::mfcc39 : hm::feat::FeatureKind::fbank80;
      hm::feat::compute_features_batch(wavs, kind);  // warm-up (FFTW plan, allocator)
      std::vector<double> t;
      for (int64_t r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        hm::feat::compute_features_batch(wavs, kind);
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      ours[k] = hm::bench::median(t);
      std::printf("%-11s %-6s %7d %10.4f %14.0f\n", "hubmamba", k == 0 ? "mfcc" : "fbank", threads, ours[k],
                  audio / ours[k]);
    }
    if (!torch) continue;
    const std::string script = hm::bench::bench_file("pytorch_features.py");
    const std::string args =
        "--data " + path + " --threads " + std::to_string(threads) + " --repeats " + std::to_string(repeats);
    const auto json = hm::bench::python_output(script, args);
    if (!json) {
      std::printf("torchaudio baseline failed (%s %s); skipping\n", script.c_str(), args.c_str());
      torch = false;
      continue;
    }
    for (int k = 0; k < 2; ++k) {
      const double t = hm::bench::json_number(*json, k == 0 ? "mfcc_median_s" : "fbank_median_s");
      std::printf("%-11s %-6s %7d %10.4f %14.0f   -> hubmamba %.1fx faster\n", "torchaudio", k == 0 ? "mfcc" : "fbank",
                  threads, t, audio / t, t / ours[k]);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
  return 1;
}
