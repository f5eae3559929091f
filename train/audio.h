// Audio I/O (libsndfile) and resampling (libsoxr). Everything downstream works on 16 kHz mono float samples
// in [-1, 1].
#pragma once
#include <string>
#include <vector>

namespace hm {

constexpr int kSampleRate = 16000;

struct Audio {
  std::vector<float> samples;  // (num_samples,) mono
  int sample_rate = 0;
};

// Read WAV/FLAC/any libsndfile format, mix to mono, resample to `target_rate` when it differs (0 = keep the
// file's rate). Throws hm::Error naming the file for missing, empty, truncated, corrupt or unsupported files.
Audio read_audio(const std::string& path, int target_rate = kSampleRate);

// Write 16-bit PCM WAV, atomically (temp name + rename).
void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate);

}  // namespace hm
