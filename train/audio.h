// Audio I/O (libsndfile) and resampling (libsoxr). Everything downstream works on 16 kHz mono float samples
// in [-1, 1]. Every failure throws hm::Error whose message starts with the file name, so a batch job can print
// it as one line (or record it and go on when asked to skip bad files).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hm {

constexpr int kSampleRate = 16000;

struct Audio {
  std::vector<float> samples;  // (num_samples,) mono
  int sample_rate = 0;
};

// What the header says (after libsndfile's own consistency fixes), without decoding the samples.
struct AudioInfo {
  int64_t frames = 0;  // per channel, at sample_rate
  int sample_rate = 0;
  int channels = 0;
  std::string format;  // e.g. "WAV (Microsoft) / Signed 16 bit PCM"
};

// Header of a WAV/FLAC/any libsndfile file. Throws for missing, empty, non-audio, unsupported and (for
// formats whose header carries a data size, e.g. WAV/AIFF) truncated files.
AudioInfo read_audio_info(const std::string& path);

// Read WAV/FLAC/any libsndfile format (integer PCM of any width or float), mix to mono (channel mean), resample
// to `target_rate` when it differs (0 = keep the file's rate). Throws hm::Error naming the file for missing,
// empty, truncated, corrupt, non-finite or unsupported files.
Audio read_audio(const std::string& path, int target_rate = kSampleRate);

// Number of samples resample() returns: round(n * out_rate / in_rate), the length libsoxr's one-shot
// converter produces (so manifests can state 16 kHz lengths from headers alone).
int64_t resampled_length(int64_t n, int in_rate, int out_rate);

// Band-limited resampling with libsoxr's high-quality preset (the quality `sox rate` uses by default).
// Output has exactly resampled_length(in.size(), in_rate, out_rate) samples.
std::vector<float> resample(const std::vector<float>& in, int in_rate, int out_rate);

// Write mono 16-bit PCM, atomically (temp name + rename), clipping to [-1, 1]. write_audio picks the container
// from the extension (.wav or .flac).
void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate);
void write_flac(const std::string& path, const std::vector<float>& samples, int sample_rate);
void write_audio(const std::string& path, const std::vector<float>& samples, int sample_rate);

}  // namespace hm
