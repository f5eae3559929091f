// Audio batches for training (fairseq HubertDataset / FileAudioDataset semantics, SPEC.md 6): a manifest plus,
// per utterance, frame labels (.km, pretraining) or token targets (fine-tuning); batches bounded by max_tokens
// samples over length-sorted utterances. Pretraining ("crop") cuts every batch randomly to its shortest
// utterance (capped at max_sample_size) and crops the labels to the same span at label_rate; fine-tuning
// ("pad") zero-pads to the longest utterance and reports the valid lengths. A background thread prepares the
// next batches so the trainer does not wait on disk. The loader position (epoch, batch) is part of the
// training state, and every batch is a pure function of (seed, epoch, batch index), so resume is exact.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/tensor.h"

namespace hm {

struct DatasetConfig {
  std::string manifest;    // train.tsv
  bool crop = true;        // true: pretraining crop to the shortest; false: pad to the longest
  std::string labels;      // crop mode: train.km (one line per manifest entry)
  std::vector<std::vector<int32_t>> transcripts;  // pad mode: token ids per manifest entry (may be empty)
  double label_rate = 100.0;
  int64_t max_tokens = 1400000;       // samples per batch (fairseq max_tokens)
  int64_t min_sample_size = 32000;    // utterances shorter than this are skipped (2 s)
  int64_t max_sample_size = 250000;   // crop longer batches to this
  int64_t max_utterances = 0;         // use only the first N entries (0 = all)
  uint64_t seed = 1;
  int prefetch = 2;                   // batches prepared ahead by the background thread
  bool cache_audio = true;            // keep decoded audio in memory (small corpora)
};

struct Batch {
  Tensor wave;                         // (B, L) float32: cropped to the shortest (crop) or zero-padded (pad)
  Tensor labels;                       // crop: (B, F) int64 labels of the span (F = round(L * label_rate / sr))
  std::vector<int64_t> lengths;        // pad: valid samples per row
  std::vector<std::vector<int32_t>> transcripts;  // pad: token ids per row
  std::vector<int64_t> utterances;     // manifest indices
  int64_t epoch = 0, index = 0;        // position of this batch
  double audio_seconds() const;
};

class AudioDataset {
 public:
  explicit AudioDataset(const DatasetConfig& cfg);
  ~AudioDataset();
  AudioDataset(const AudioDataset&) = delete;
  AudioDataset& operator=(const AudioDataset&) = delete;

  int64_t num_utterances() const { return int64_t(sizes_.size()); }
  int64_t batches_per_epoch() const { return int64_t(batches_.size()); }
  int64_t skipped_short() const { return skipped_short_; }
  double total_seconds() const;

  // Make batch `index` of `epoch` (deterministic; reads audio).
  Batch make_batch(int64_t epoch, int64_t index) const;
  // Sequential iteration with background prefetch, starting at (epoch, index).
  void start(int64_t epoch, int64_t index);
  Batch next();

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;  // permutation of batch ids for this epoch
  std::vector<float> audio(int64_t utt) const;  // decoded 16 kHz samples (cached when cache_audio)
  void stop_worker();

  DatasetConfig cfg_;
  std::string root_;
  std::vector<std::string> paths_;
  std::vector<int64_t> sizes_;                  // samples per usable utterance
  std::vector<int64_t> manifest_index_;         // per usable utterance: its manifest entry (Batch::utterances)
  std::vector<std::vector<int32_t>> labels_;    // per usable utterance: frame labels (crop) or tokens (pad)
  std::vector<std::vector<int64_t>> batches_;   // fixed batch composition (utterance ids), sorted by length
  int64_t skipped_short_ = 0;
  mutable std::mutex cache_mutex_;
  mutable std::vector<std::vector<float>> cache_;

  // prefetch worker
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::string worker_error_;
  bool stop_ = false;
  int64_t next_epoch_ = 0, next_index_ = 0;
};

}  // namespace hm
