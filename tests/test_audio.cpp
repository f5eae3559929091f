// Audio I/O: WAV/FLAC round trips in every PCM/float width libsndfile writes, mixing to mono, resampling to
// 16 kHz with the right length and the sine's frequency kept, and one clear error naming the file for every
// kind of bad input.
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "tests/test_util.h"
#include "train/audio.h"

namespace hm::test {
namespace {
namespace fs = std::filesystem;

// A fresh scratch directory per test.
fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("hm_test_audio_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<float> sine(double freq, int rate, int64_t n, double amp = 0.5) {
  std::vector<float> x(static_cast<size_t>(n));  // (n,)
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = float(amp * std::sin(2 * std::numbers::pi * freq * double(i) / rate));
  return x;
}

// Write interleaved (frames, channels) float data with libsndfile directly, in any format.
void write_raw(const fs::path& path, const std::vector<float>& interleaved, int rate, int channels, int format) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_float(f, interleaved.data(), sf_count_t(interleaved.size() / channels)),
            sf_count_t(interleaved.size() / channels));
  sf_close(f);
}

// Frequency from the zero crossings of the middle 80 % (skips the resampler's edge transients).
double zero_crossing_freq(const std::vector<float>& x, int rate) {
  const size_t b = x.size() / 10, e = x.size() - x.size() / 10;
  size_t first = 0, last = 0, crossings = 0;
  for (size_t i = b + 1; i < e; ++i)
    if ((x[i - 1] < 0) != (x[i] < 0)) {
      if (crossings == 0) first = i;
      last = i;
      ++crossings;
    }
  return double(crossings - 1) / 2.0 / (double(last - first) / rate);
}

double rms_middle(const std::vector<float>& x) {
  const size_t b = x.size() / 10, e = x.size() - x.size() / 10;
  double s = 0;
  for (size_t i = b; i < e; ++i) s += double(x[i]) * x[i];
  return std::sqrt(s / double(e - b));
}

TEST(Audio, WavAndFlacRoundTrip16Bit) {
  const fs::path d = scratch("roundtrip");
  const std::vector<float> x = sine(440, kSampleRate, 8001);
  for (const char* name : {"a.wav", "a.flac"}) {
    const std::string p = (d / name).string();
    write_audio(p, x, kSampleRate);
    const Audio a = read_audio(p);
    ASSERT_EQ(a.sample_rate, kSampleRate);
    ASSERT_EQ(a.samples.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(a.samples[i], x[i], 1.0 / 32768 + 1e-6) << name << " " << i;
    const AudioInfo info = read_audio_info(p);
    EXPECT_EQ(info.frames, 8001);
    EXPECT_EQ(info.channels, 1);
  }
  // Atomic writes leave nothing but the two files behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 2);
  fs::remove_all(d);
}

TEST(Audio, ReadsEveryPcmAndFloatFormat) {
  const fs::path d = scratch("formats");
  const std::vector<float> x = sine(300, kSampleRate, 1600, 0.7);
  const std::pair<int, double> formats[] = {
      {SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 1.0 / 64}, {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1e-4},
      {SF_FORMAT_WAV | SF_FORMAT_PCM_24, 1e-6},     {SF_FORMAT_WAV | SF_FORMAT_PCM_32, 1e-6},
      {SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0},         {SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 0},
      {SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 1e-6},    {SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 1e-4}};
  int k = 0;
  for (const auto& [format, tol] : formats) {
    const fs::path p = d / cat("f", k++, (format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC ? ".flac" : ".wav");
    write_raw(p, x, kSampleRate, 1, format);
    const Audio a = read_audio(p.string());
    ASSERT_EQ(a.samples.size(), x.size()) << p;
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(a.samples[i], x[i], tol + 1e-7) << p << " sample " << i;
  }
  fs::remove_all(d);
}

TEST(Audio, ResamplesTo16kKeepingLengthAndFrequency) {
  const fs::path d = scratch("resample");
  struct Case {
    int rate, channels;
    double freq;
  };
  for (const Case c :
       {Case{8000, 1, 440}, Case{44100, 1, 1000}, Case{44100, 2, 440}, Case{22050, 1, 3000}, Case{48000, 2, 2500}}) {
    SCOPED_TRACE(std::to_string(c.rate) + " Hz, " + std::to_string(c.channels) + " channels");
    const int64_t n = c.rate * 3 / 2 + 7;  // 1.5 s and an odd tail
    const std::vector<float> mono = sine(c.freq, c.rate, n, 0.5);
    std::vector<float> inter(size_t(n * c.channels));  // (n, channels)
    for (int64_t i = 0; i < n; ++i)
      for (int ch = 0; ch < c.channels; ++ch)
        // Stereo: left 0.8 x, right 0.2 x, so the channel mean is 0.5 x.
        inter[size_t(i * c.channels + ch)] =
            c.channels == 1 ? mono[size_t(i)] : mono[size_t(i)] * (ch == 0 ? 1.6f : 0.4f);
    const fs::path p = d / cat("in_", c.rate, "_", c.channels, ".wav");
    write_raw(p, inter, c.rate, c.channels, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    const Audio a = read_audio(p.string());
    EXPECT_EQ(a.sample_rate, kSampleRate);
    EXPECT_EQ(int64_t(a.samples.size()), resampled_length(n, c.rate, kSampleRate));
    EXPECT_NEAR(double(a.samples.size()), double(n) * kSampleRate / c.rate, 0.51);
    EXPECT_NEAR(zero_crossing_freq(a.samples, kSampleRate), c.freq, c.freq * 2e-3);
    EXPECT_NEAR(rms_middle(a.samples), 0.5 / std::sqrt(2.0), 0.01);
    // target_rate 0 keeps the file's rate (mono mix only).
    EXPECT_EQ(read_audio(p.string(), 0).samples.size(), size_t(n));
  }
  // The resampler on its own: identity at equal rates, exact lengths for tiny inputs.
  const std::vector<float> x = sine(100, 16000, 33);
  EXPECT_EQ(resample(x, 16000, 16000), x);
  for (int64_t len : {1, 2, 3, 11})
    EXPECT_EQ(int64_t(resample(std::vector<float>(size_t(len), 0.1f), 44100, 16000).size()),
              resampled_length(len, 44100, 16000));
  fs::remove_all(d);
}

TEST(Audio, BadFilesGiveOneErrorNamingTheFile) {
  const fs::path d = scratch("bad");
  const std::string good_wav = (d / "good.wav").string(), good_flac = (d / "good.flac").string();
  write_wav(good_wav, sine(440, kSampleRate, 16000), kSampleRate);
  write_flac(good_flac, sine(440, kSampleRate, 16000), kSampleRate);
  auto write_bytes = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(d / name, std::ios::binary) << bytes;
    return (d / name).string();
  };
  auto head = [&](const std::string& path, size_t n) {
    std::ifstream in(path, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all.substr(0, n);
  };
  const std::string missing = (d / "missing.wav").string();
  const std::string empty = write_bytes("empty.wav", "");
  const std::string text = write_bytes("notes.wav", "this is not audio\n");
  const std::string trunc_wav = write_bytes("trunc.wav", head(good_wav, 44 + 5000));
  const std::string trunc_flac = write_bytes("trunc.flac", head(good_flac, 3000));
  const std::string header_only = write_bytes("header_only.wav", head(good_wav, 44));
  // A header whose data chunk is declared empty: valid RIFF, zero samples.
  std::string zero = head(good_wav, 44);
  for (int i = 40; i < 44; ++i) zero[size_t(i)] = 0;
  const std::string zero_frames = write_bytes("zero.wav", zero);
  const std::string nan_wav = (d / "nan.wav").string();
  std::vector<float> with_nan = sine(440, kSampleRate, 100);
  with_nan[50] = std::nanf("");
  write_raw(nan_wav, with_nan, kSampleRate, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);

  EXPECT_TRUE(throws_with([&] { read_audio(missing); }, missing + ": cannot read audio"));
  EXPECT_TRUE(throws_with([&] { read_audio(empty); }, empty + ": cannot read audio (empty file, 0 bytes)"));
  EXPECT_TRUE(throws_with([&] { read_audio(text); }, text + ": cannot read audio (Format not recognised"));
  EXPECT_TRUE(throws_with([&] { read_audio(trunc_wav); }, trunc_wav + ": truncated audio"));
  EXPECT_TRUE(throws_with([&] { read_audio_info(trunc_wav); }, trunc_wav + ": truncated audio"));
  EXPECT_TRUE(throws_with([&] { read_audio(trunc_flac); }, trunc_flac + ": truncated audio"));
  EXPECT_TRUE(throws_with([&] { read_audio(header_only); }, header_only + ": truncated audio"));
  EXPECT_TRUE(throws_with([&] { read_audio(zero_frames); }, zero_frames + ": audio file is empty"));
  EXPECT_TRUE(throws_with([&] { read_audio(nan_wav); }, nan_wav + ": non-finite sample"));
  // Writing: unknown container, non-finite samples, a directory that cannot be made (its parent is a file). A
  // missing directory is created, as for every atomic writer (train/atomic_file.h).
  EXPECT_TRUE(throws_with([&] { write_audio((d / "x.mp3").string(), {0.f}, kSampleRate); }, "x.mp3: unsupported"));
  EXPECT_TRUE(throws_with([&] { write_wav((d / "n.wav").string(), with_nan, kSampleRate); }, "n.wav: refusing"));
  EXPECT_TRUE(
      throws_with([&] { write_wav(good_wav + "/dir.wav", {0.f}, kSampleRate); }, "dir.wav: cannot create directory"));
  EXPECT_FALSE(fs::exists(d / "n.wav"));
  write_wav((d / "new" / "dir.wav").string(), {0.f}, kSampleRate);
  EXPECT_EQ(read_audio((d / "new" / "dir.wav").string()).samples.size(), 1u);
  // Values outside [-1, 1] clip instead of wrapping around.
  write_wav((d / "loud.wav").string(), {2.f, -2.f, 0.5f}, kSampleRate);
  const Audio loud = read_audio((d / "loud.wav").string());
  EXPECT_GT(loud.samples[0], 0.99f);
  EXPECT_LT(loud.samples[1], -0.99f);
  fs::remove_all(d);
}

}  // namespace
}  // namespace hm::test
