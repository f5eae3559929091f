// AudioDataset (train/dataset.h): max_tokens batching, crop mode (every row cut to the batch's shortest utterance,
// labels cut to the same span at label_rate), pad mode (zero padding, lengths, transcripts), batches as a pure
// function of (seed, epoch, index), per-epoch shuffling, the prefetch thread, min_sample_size filtering and the
// errors for inconsistent corpora. Corpora are synthetic tone utterances (tests/train_corpus.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "tests/test_util.h"
#include "tests/train_corpus.h"
#include "train/dataset.h"

namespace hm::test {
namespace {

namespace fs = std::filesystem;

// 8 utterances between 0.5 and 1.5 s, deliberately not sorted by length.
const std::vector<int64_t> kLengths = {12000, 8000, 24000, 9600, 16000, 20800, 11200, 17600};

struct Corpus {
  ScratchDir dir{"dataset"};
  std::vector<ToneUtterance> utts;
  std::vector<std::vector<float>> audio;  // what read_audio returns (16-bit quantised)
  Corpus() {
    utts = write_tone_corpus(dir.str(), "train", kLengths, 7);
    for (size_t i = 0; i < kLengths.size(); ++i)
      audio.push_back(read_back(dir.str("audio/train_u" + std::to_string(i) + ".wav")));
  }
  DatasetConfig crop_config(int64_t max_tokens = 40000) const {
    DatasetConfig c;
    c.manifest = dir.str("train.tsv");
    c.labels = dir.str("train.km");
    c.max_tokens = max_tokens;
    c.min_sample_size = 0;
    c.seed = 3;
    return c;
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) ==
             0;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.epoch == b.epoch && a.index == b.index && a.utterances == b.utterances && a.lengths == b.lengths &&
         a.transcripts == b.transcripts && same_bits(a.wave, b.wave) && same_bits(a.labels, b.labels);
}

// Where row `row` of a cropped batch starts in utterance `u` (the crop is a contiguous slice of its samples).
int64_t find_crop_start(const std::vector<float>& full, const float* row, int64_t L) {
  for (int64_t s = 0; s + L <= int64_t(full.size()); ++s)
    if (std::equal(row, row + L, full.begin() + s)) return s;
  return -1;
}

TEST(Dataset, CropBatchesRespectMaxTokensAndCutRowsAndLabelsToOneSpan) {
  Corpus c;
  const int64_t max_tokens = 40000;
  AudioDataset ds(c.crop_config(max_tokens));
  ASSERT_EQ(ds.num_utterances(), 8);
  std::multiset<int64_t> seen;
  int64_t batches_of_several = 0;
  for (int64_t i = 0; i < ds.batches_per_epoch(); ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    const Batch b = ds.make_batch(0, i);
    const int64_t B = b.wave.size(0), L = b.wave.size(1);
    ASSERT_EQ(int64_t(b.utterances.size()), B);
    int64_t shortest = INT64_MAX, longest = 0;
    for (int64_t u : b.utterances) {
      shortest = std::min(shortest, kLengths[size_t(u)]);
      longest = std::max(longest, kLengths[size_t(u)]);
      seen.insert(u);
    }
    // fairseq batch_by_size: (count) * (longest member) <= max_tokens unless one utterance alone exceeds it.
    EXPECT_TRUE(B == 1 || B * longest <= max_tokens) << B << " x " << longest;
    batches_of_several += B > 1;
    EXPECT_EQ(L, shortest);  // crop mode: every row cut to the shortest member
    // Labels: F = round(L * rate / sr) frames starting at f0 = round(start * rate / sr) (collater_frm_label).
    const int64_t F = std::lround(double(L) * 100.0 / kSampleRate);
    ASSERT_EQ(b.labels.shape(), Shape({B, F}));
    ASSERT_EQ(b.labels.dtype(), DType::i64);
    for (int64_t r = 0; r < B; ++r) {
      const int64_t u = b.utterances[size_t(r)];
      const int64_t start = find_crop_start(c.audio[size_t(u)], b.wave.data<float>() + r * L, L);
      ASSERT_GE(start, 0) << "row " << r << " is not a contiguous slice of utterance " << u;
      const int64_t f0 = std::lround(double(start) * 100.0 / kSampleRate);
      const std::vector<int32_t>& lab = c.utts[size_t(u)].labels;
      for (int64_t f = 0; f < F; ++f)
        ASSERT_EQ(b.labels.data<int64_t>()[r * F + f], lab[size_t(std::min<int64_t>(f0 + f, int64_t(lab.size()) - 1))])
            << "row " << r << " frame " << f << " (crop start " << start << ")";
    }
  }
  EXPECT_GT(batches_of_several, 0);
  EXPECT_EQ(seen, (std::multiset<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));  // every utterance once per epoch
}

TEST(Dataset, MaxSampleSizeCapsTheCrop) {
  Corpus c;
  DatasetConfig cfg = c.crop_config();
  cfg.max_sample_size = 6000;
  AudioDataset ds(cfg);
  for (int64_t i = 0; i < ds.batches_per_epoch(); ++i) {
    const Batch b = ds.make_batch(1, i);
    EXPECT_EQ(b.wave.size(1), 6000);
    EXPECT_EQ(b.labels.size(1), 38);  // round(6000 * 100 / 16000) = round(37.5)
  }
}

TEST(Dataset, PadModeZeroPadsAndReportsLengthsAndTranscripts) {
  Corpus c;
  DatasetConfig cfg = c.crop_config(50000);
  cfg.crop = false;
  cfg.labels.clear();
  for (size_t i = 0; i < kLengths.size(); ++i) cfg.transcripts.push_back({int32_t(i + 1), int32_t(2 * i + 1)});
  AudioDataset ds(cfg);
  int64_t rows = 0;
  for (int64_t i = 0; i < ds.batches_per_epoch(); ++i) {
    const Batch b = ds.make_batch(0, i);
    const int64_t B = b.wave.size(0), L = b.wave.size(1);
    EXPECT_FALSE(b.labels.defined());
    ASSERT_EQ(b.lengths.size(), size_t(B));
    ASSERT_EQ(b.transcripts.size(), size_t(B));
    EXPECT_EQ(L, *std::max_element(b.lengths.begin(), b.lengths.end()));  // padded to the longest
    EXPECT_TRUE(B == 1 || B * L <= 50000);
    for (int64_t r = 0; r < B; ++r) {
      const int64_t u = b.utterances[size_t(r)];
      EXPECT_EQ(b.lengths[size_t(r)], kLengths[size_t(u)]);
      EXPECT_EQ(b.transcripts[size_t(r)], cfg.transcripts[size_t(u)]);
      const float* row = b.wave.data<float>() + r * L;
      EXPECT_TRUE(std::equal(c.audio[size_t(u)].begin(), c.audio[size_t(u)].end(), row)) << "row " << r;
      for (int64_t k = kLengths[size_t(u)]; k < L; ++k) ASSERT_EQ(row[k], 0.0f) << "padding of row " << r;
      rows++;
    }
  }
  EXPECT_EQ(rows, 8);
  // A transcript list of the wrong length is rejected naming the manifest.
  cfg.transcripts.pop_back();
  EXPECT_TRUE(throws_with([&] { AudioDataset bad(cfg); }, "8 utterances but 7 transcripts"));
}

TEST(Dataset, BatchesArePureFunctionsOfSeedEpochAndIndex) {
  Corpus c;
  AudioDataset a(c.crop_config(30000)), b(c.crop_config(30000));
  ASSERT_GE(a.batches_per_epoch(), 3);
  // Same (seed, epoch, index) -> the same bits, in another dataset object and in another call order.
  const Batch late = a.make_batch(4, 2);
  for (int64_t e = 0; e < 3; ++e)
    for (int64_t i = 0; i < a.batches_per_epoch(); ++i) a.make_batch(e, i);
  EXPECT_TRUE(same_batch(late, b.make_batch(4, 2)));
  EXPECT_TRUE(same_batch(late, a.make_batch(4, 2)));
  // Another seed changes the order or the crops somewhere in the first epochs.
  DatasetConfig other = c.crop_config(30000);
  other.seed = 4;
  AudioDataset d(other);
  bool differs = false;
  for (int64_t e = 0; e < 3; ++e)
    for (int64_t i = 0; i < a.batches_per_epoch(); ++i)
      differs = differs || !same_batch(a.make_batch(e, i), d.make_batch(e, i));
  EXPECT_TRUE(differs);
  EXPECT_TRUE(throws_with([&] { a.make_batch(0, a.batches_per_epoch()); }, "out of range"));
}

TEST(Dataset, EpochOrderChangesAcrossEpochs) {
  Corpus c;
  AudioDataset ds(c.crop_config(20000));  // max 1-2 utterances per batch: several batches to shuffle
  ASSERT_GE(ds.batches_per_epoch(), 4);
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 4; ++e) {
    std::vector<int64_t> order;
    for (int64_t i = 0; i < ds.batches_per_epoch(); ++i) {
      const Batch b = ds.make_batch(e, i);
      order.insert(order.end(), b.utterances.begin(), b.utterances.end());
    }
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7})) << "epoch " << e;
    orders.push_back(order);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_GE(std::set<std::vector<int64_t>>(orders.begin(), orders.end()).size(), 3u);
}

TEST(Dataset, PrefetchYieldsTheMakeBatchSequenceAcrossAnEpochBoundary) {
  Corpus c;
  DatasetConfig cfg = c.crop_config(20000);
  cfg.prefetch = 2;
  AudioDataset ds(cfg);
  const int64_t n = ds.batches_per_epoch();
  ASSERT_GE(n, 3);
  ds.start(1, n - 2);
  int64_t e = 1, i = n - 2;
  for (int k = 0; k < int(n) + 3; ++k) {
    const Batch got = ds.next();
    EXPECT_TRUE(same_batch(got, ds.make_batch(e, i))) << "batch " << k << " (epoch " << e << ", index " << i << ")";
    if (++i == n) i = 0, e++;
  }
  // A restart at another position (what resume does) yields from there.
  ds.start(0, 1);
  EXPECT_TRUE(same_batch(ds.next(), ds.make_batch(0, 1)));
}

TEST(Dataset, MinSampleSizeSkipsShortUtterances) {
  Corpus c;
  DatasetConfig cfg = c.crop_config();
  cfg.min_sample_size = 12000;  // drops 8000, 9600, 11200 (manifest lines 1, 3, 6)
  AudioDataset ds(cfg);
  EXPECT_EQ(ds.skipped_short(), 3);
  EXPECT_EQ(ds.num_utterances(), 5);
  std::set<int64_t> seen;
  for (int64_t i = 0; i < ds.batches_per_epoch(); ++i) {
    const Batch b = ds.make_batch(0, i);
    for (size_t r = 0; r < b.utterances.size(); ++r) {
      const int64_t u = b.utterances[r];
      seen.insert(u);
      // Batch::utterances are manifest indices: the row must be a slice of that manifest entry's audio.
      EXPECT_GE(find_crop_start(c.audio[size_t(u)], b.wave.data<float>() + int64_t(r) * b.wave.size(1), b.wave.size(1)),
                0)
          << "utterance id " << u << " does not name the manifest entry of row " << r;
    }
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 2, 4, 5, 7}));
  cfg.min_sample_size = 30000;
  EXPECT_TRUE(throws_with([&] { AudioDataset none(cfg); }, "no utterance of at least 30000 samples"));
}

TEST(Dataset, LabelLineCountMismatchNamesBothFiles) {
  Corpus c;
  std::vector<std::vector<int32_t>> km;
  for (size_t i = 0; i + 1 < c.utts.size(); ++i) km.push_back(c.utts[i].labels);
  write_km(c.dir.str("train.km"), km);
  EXPECT_TRUE(throws_with([&] { AudioDataset ds(c.crop_config()); }, "train.km: 7 lines but"));
  EXPECT_TRUE(throws_with([&] { AudioDataset ds(c.crop_config()); }, "train.tsv lists 8 utterances"));
}

TEST(Dataset, MissingAudioFileIsNamed) {
  Corpus c;
  AudioDataset ds(c.crop_config(20000));
  fs::remove(c.dir.str("audio/train_u5.wav"));
  // Audio is read lazily: the batch holding utterance 5 fails, naming the file, directly and through prefetch.
  int64_t bad = -1;
  for (int64_t i = 0; i < ds.batches_per_epoch() && bad < 0; ++i) {
    const Batch probe = [&] {
      try {
        return ds.make_batch(0, i);
      } catch (const Error&) {
        bad = i;
        return Batch{};
      }
    }();
    (void)probe;
  }
  ASSERT_GE(bad, 0);
  EXPECT_TRUE(throws_with([&] { ds.make_batch(0, bad); }, "train_u5.wav"));
  ds.start(0, bad);
  EXPECT_TRUE(throws_with([&] { ds.next(); }, "train_u5.wav"));
}

TEST(Dataset, AudioLengthDifferentFromTheManifestIsRejected) {
  Corpus c;
  AudioDataset ds(c.crop_config(200000));  // one batch with everything
  ASSERT_EQ(ds.batches_per_epoch(), 1);
  write_wav(c.dir.str("audio/train_u2.wav"), std::vector<float>(23000, 0.1f), kSampleRate);  // manifest: 24000
  EXPECT_TRUE(throws_with([&] { ds.make_batch(0, 0); }, "train_u2.wav: has 23000 samples but the manifest says 24000"));
}

}  // namespace
}  // namespace hm::test
