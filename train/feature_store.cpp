#include "train/feature_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "cpu/parallel.h"
#include "engine/error.h"
#include "engine/npy.h"
#include "train/audio.h"

namespace hm::feat {

std::string feature_path(const std::string& feat_dir, const std::string& relpath) {
  std::filesystem::path p(relpath);
  p.replace_extension(".npy");
  return (std::filesystem::path(feat_dir) / p).string();
}

namespace {

// One progress line on stderr, refreshed at most once a second by whichever thread finishes an utterance.
class Progress {
 public:
  Progress(bool on, int64_t total) : on_(on), total_(total), start_(clock::now()), last_(start_) {}
  void add(double audio_seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++done_;
    audio_ += audio_seconds;
    const auto now = clock::now();
    if (!on_ || (std::chrono::duration<double>(now - last_).count() < 1.0 && done_ < total_)) return;
    last_ = now;
    const double el = std::chrono::duration<double>(now - start_).count();
    const double eta = done_ > 0 ? el * double(total_ - done_) / double(done_) : 0;
    std::fprintf(stderr, "\rmfcc: %lld/%lld utterances, %.1f audio-s/s, elapsed %.0f s, ETA %.0f s   ",
                 static_cast<long long>(done_), static_cast<long long>(total_), audio_ / std::max(el, 1e-9), el, eta);
    if (done_ == total_) std::fprintf(stderr, "\n");
  }
  double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;
  bool on_;
  int64_t total_, done_ = 0;
  double audio_ = 0;
  clock::time_point start_, last_;
  std::mutex mutex_;
};

}  // namespace

DumpStats dump_features(const std::string& tsv_path, const Manifest& m, const std::string& out_dir, FeatureKind kind,
                        bool progress) {
  check(!m.entries.empty(), tsv_path, ": manifest lists no utterances");
  const int64_t U = int64_t(m.entries.size());
  std::vector<std::string> errors(m.entries.size());
  std::vector<int64_t> frames(m.entries.size(), 0);
  std::vector<double> seconds(m.entries.size(), 0);
  Progress prog(progress, U);
  // Threads over utterances (dynamic: lengths differ); each thread reads, computes and writes its own files.
  // Exceptions cannot cross the OpenMP region: they are collected and the first one (in manifest order) rethrown.
#pragma omp parallel for schedule(dynamic, 1) num_threads(cpu::num_threads())
  for (int64_t i = 0; i < U; ++i) {
    try {
      const std::string wav = m.audio_path(size_t(i));
      const Audio a = read_audio(wav);
      const ManifestEntry& e = m.entries[size_t(i)];
      check(int64_t(a.samples.size()) == e.num_samples, wav, ": has ", a.samples.size(), " samples but the manifest ",
            tsv_path, " says ", e.num_samples, " (stale manifest?)");
      const Tensor f = compute_features(a.samples, kind, wav);
      const std::string out = feature_path(out_dir, e.path);
      std::filesystem::create_directories(std::filesystem::path(out).parent_path());
      save_npy(out, f);
      frames[size_t(i)] = f.size(0);
      seconds[size_t(i)] = double(a.samples.size()) / double(a.sample_rate);
      prog.add(seconds[size_t(i)]);
    } catch (const std::exception& e) {
      errors[size_t(i)] = e.what();
    }
  }
  for (const std::string& e : errors) check(e.empty(), e);
  DumpStats s;
  s.utterances = U;
  for (int64_t i = 0; i < U; ++i) s.frames += frames[size_t(i)], s.audio_seconds += seconds[size_t(i)];
  s.wall_seconds = prog.seconds();
  return s;
}

Tensor load_utterance_features(const std::string& path, int64_t expected_dim) {
  check(std::filesystem::exists(path), path, ": feature file not found (run `hubmamba mfcc --manifest ...` first)");
  Tensor t = load_npy(path);
  check(t.dim() == 2, path, ": expected a 2-D (frames, dim) feature array, got shape ", shape_str(t.shape()));
  check(t.dtype() == DType::f32 || t.dtype() == DType::f64, path, ": expected float32 features, got ", t.dtype());
  if (t.dtype() != DType::f32) t = t.to(DType::f32);
  t = t.contiguous();
  check(expected_dim <= 0 || t.size(1) == expected_dim, path, ": feature dimension ", t.size(1), " but expected ",
        expected_dim, " (shape ", shape_str(t.shape()), ")");
  check(t.size(0) > 0, path, ": has no frames");
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    check(std::isfinite(p[i]), path, ": non-finite value ", p[i], " at frame ", i / t.size(1), ", dim ", i % t.size(1));
  return t;
}

Tensor load_features(const std::string& feat_dir, const std::string& tsv_path, const Manifest& m,
                     const std::vector<size_t>& which, std::vector<int64_t>* lengths) {
  std::vector<Tensor> parts;
  parts.reserve(which.size());
  int64_t dim = -1, total = 0;
  for (size_t i : which) {
    check(i < m.entries.size(), "load_features: utterance index ", i, " out of range for ", tsv_path, " (",
          m.entries.size(), " utterances)");
    parts.push_back(load_utterance_features(feature_path(feat_dir, m.entries[i].path), dim));
    dim = parts.back().size(1);
    total += parts.back().size(0);
  }
  check(!parts.empty(), "load_features: no utterances selected from ", tsv_path);
  Tensor out = empty({total, dim});  // (sum T, D)
  float* po = out.data<float>();
  if (lengths) lengths->clear();
  for (const Tensor& p : parts) {
    std::copy(p.data<float>(), p.data<float>() + p.numel(), po);
    po += p.numel();
    if (lengths) lengths->push_back(p.size(0));
  }
  return out;
}

}  // namespace hm::feat
