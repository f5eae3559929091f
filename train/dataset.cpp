#include "train/dataset.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/rng.h"
#include "train/audio.h"
#include "train/manifest.h"

namespace hm {

double Batch::audio_seconds() const { return double(wave.numel()) / kSampleRate; }

AudioDataset::AudioDataset(const DatasetConfig& cfg) : cfg_(cfg) {
  check(cfg.max_tokens > 0 && cfg.min_sample_size >= 0 && cfg.max_sample_size > 0, "dataset: max_tokens, ",
        "min_sample_size and max_sample_size must be positive");
  check(cfg.label_rate > 0, "dataset: label_rate must be positive, got ", cfg.label_rate);
  const Manifest m = read_manifest(cfg.manifest);
  std::vector<std::vector<int32_t>> km;
  if (cfg.crop) {
    km = read_km(cfg.labels);
    validate_line_count(cfg.manifest, m, cfg.labels, km.size());
    validate_km(cfg.manifest, m, cfg.labels, km, cfg.label_rate);
  } else {
    km = cfg.transcripts;
    check(km.empty() || km.size() == m.entries.size(), cfg.manifest, ": ", m.entries.size(), " utterances but ",
          km.size(), " transcripts");
    km.resize(m.entries.size());
  }
  const size_t n = cfg.max_utterances > 0 ? std::min(m.entries.size(), size_t(cfg.max_utterances)) : m.entries.size();
  for (size_t i = 0; i < n; ++i) {
    if (m.entries[i].num_samples < cfg.min_sample_size) {
      skipped_short_++;
      continue;
    }
    paths_.push_back(m.audio_path(i));
    manifest_index_.push_back(int64_t(i));
    sizes_.push_back(m.entries[i].num_samples);
    labels_.push_back(km[i]);
  }
  check(!sizes_.empty(), cfg.manifest, ": no utterance of at least ", cfg.min_sample_size, " samples (",
        skipped_short_, " shorter ones skipped)");
  cache_.resize(sizes_.size());
  // fairseq batch_by_size over length-sorted indices: add utterances while (count + 1) * longest <= max_tokens,
  // where the cost of a cropped batch is bounded by its longest member (capped at max_sample_size).
  std::vector<int64_t> order(sizes_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sizes_[a] < sizes_[b]; });
  std::vector<int64_t> cur;
  int64_t longest = 0;
  for (int64_t u : order) {
    const int64_t len = cfg.crop ? std::min(sizes_[u], cfg.max_sample_size) : sizes_[u];
    if (!cur.empty() && int64_t(cur.size() + 1) * std::max(longest, len) > cfg.max_tokens) {
      batches_.push_back(cur);
      cur.clear();
      longest = 0;
    }
    cur.push_back(u);
    longest = std::max(longest, len);
  }
  if (!cur.empty()) batches_.push_back(cur);
}

AudioDataset::~AudioDataset() { stop_worker(); }

double AudioDataset::total_seconds() const {
  double s = 0;
  for (int64_t n : sizes_) s += double(n);
  return s / kSampleRate;
}

std::vector<int64_t> AudioDataset::epoch_order(int64_t epoch) const {
  // Shuffle batches per epoch with a generator keyed by (seed, epoch): the same order whatever happened before.
  Generator gen(cfg_.seed * 1000003ULL + uint64_t(epoch));
  std::vector<int64_t> order(batches_.size());
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = int64_t(order.size()) - 1; i > 0; --i) std::swap(order[i], order[gen.next_below(uint64_t(i + 1))]);
  return order;
}

std::vector<float> AudioDataset::audio(int64_t utt) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (!cache_[size_t(utt)].empty()) return cache_[size_t(utt)];
  }
  Audio a = read_audio(paths_[size_t(utt)]);
  check(int64_t(a.samples.size()) == sizes_[size_t(utt)], paths_[size_t(utt)], ": has ", a.samples.size(),
        " samples but the manifest says ", sizes_[size_t(utt)]);
  if (cfg_.cache_audio) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    cache_[size_t(utt)] = a.samples;
  }
  return a.samples;
}

Batch AudioDataset::make_batch(int64_t epoch, int64_t index) const {
  check(index >= 0 && index < batches_per_epoch(), "dataset: batch ", index, " out of range (", batches_per_epoch(),
        " per epoch)");
  const std::vector<int64_t> order = epoch_order(epoch);
  const std::vector<int64_t>& members = batches_[size_t(order[size_t(index)])];
  Batch b;
  b.epoch = epoch;
  b.index = index;
  // Fix (trainer tests): report manifest indices as Batch::utterances documents; the usable-utterance ids differ
  // once min_sample_size skipped an entry, and callers map utterances back to manifest/transcript lines.
  for (int64_t u : members) b.utterances.push_back(manifest_index_[size_t(u)]);
  const int64_t B = int64_t(members.size());
  if (!cfg_.crop) {  // pad mode: zero-pad to the longest, keep every sample
    int64_t L = 0;
    for (int64_t u : members) L = std::max(L, sizes_[size_t(u)]);
    b.wave = zeros({B, L}, DType::f32);
    for (int64_t i = 0; i < B; ++i) {
      const int64_t u = members[size_t(i)];
      const std::vector<float> a = audio(u);
      std::copy(a.begin(), a.end(), b.wave.data<float>() + i * L);
      b.lengths.push_back(sizes_[size_t(u)]);
      b.transcripts.push_back(labels_[size_t(u)]);
    }
    return b;
  }
  int64_t L = cfg_.max_sample_size;
  for (int64_t u : members) L = std::min(L, sizes_[size_t(u)]);
  // Labels for the crop: fairseq collater_frm_label, frm_start = round(start * rate / sr), frm_size likewise.
  const int64_t F = int64_t(std::lround(double(L) * cfg_.label_rate / kSampleRate));
  b.wave = empty({B, L}, DType::f32);
  b.labels = empty({B, F}, DType::i64);
  Generator crop_gen(cfg_.seed * 7919ULL + uint64_t(epoch) * 104729ULL + uint64_t(index));
  for (int64_t i = 0; i < B; ++i) {
    const int64_t u = members[size_t(i)];
    const std::vector<float> a = audio(u);
    const int64_t start = int64_t(crop_gen.next_below(uint64_t(sizes_[u] - L + 1)));  // random crop
    std::copy(a.begin() + start, a.begin() + start + L, b.wave.data<float>() + i * L);
    const std::vector<int32_t>& lab = labels_[size_t(u)];
    const int64_t f0 = int64_t(std::lround(double(start) * cfg_.label_rate / kSampleRate));
    int64_t* dst = b.labels.data<int64_t>() + i * F;
    for (int64_t f = 0; f < F; ++f) {
      // validate_km allows a small length mismatch; repeat the last label past the end.
      const int64_t src = std::min<int64_t>(f0 + f, int64_t(lab.size()) - 1);
      dst[f] = lab[size_t(src)];
    }
  }
  return b;
}

void AudioDataset::start(int64_t epoch, int64_t index) {
  stop_worker();
  stop_ = false;
  queue_.clear();
  worker_error_.clear();
  next_epoch_ = epoch;
  next_index_ = index;
  worker_ = std::thread([this] {
    int64_t e = next_epoch_, i = next_index_;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || int(queue_.size()) < cfg_.prefetch; });
        if (stop_) return;
      }
      Batch b;
      try {
        b = make_batch(e, i);
      } catch (const std::exception& ex) {
        std::lock_guard<std::mutex> lock(mutex_);
        worker_error_ = ex.what();
        cv_.notify_all();
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(b));
      }
      cv_.notify_all();
      if (++i == batches_per_epoch()) i = 0, e++;
    }
  });
}

Batch AudioDataset::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  check(worker_.joinable(), "dataset: next() before start()");
  cv_.wait(lock, [&] { return !queue_.empty() || !worker_error_.empty(); });
  if (queue_.empty()) throw Error(worker_error_);
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  return b;
}

void AudioDataset::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

}  // namespace hm
