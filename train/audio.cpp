#include "train/audio.h"

#include <sndfile.h>
#include <soxr.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "engine/error.h"
#include "train/atomic_file.h"

namespace hm {
namespace {

// RAII for SNDFILE*. Opening failures name the file and carry libsndfile's reason ("Format not recognised.",
// "System error : No such file or directory.", ...).
struct SndFile {
  SNDFILE* f = nullptr;
  SF_INFO info{};
  SndFile(const std::string& path, int mode, const SF_INFO* write_info = nullptr) {
    if (write_info) info = *write_info;
    f = sf_open(path.c_str(), mode, &info);
    if (!f) {
      const char* why = sf_strerror(nullptr);
      std::error_code ec;
      if (mode == SFM_READ && std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0)
        throw Error(cat(path, ": cannot read audio (empty file, 0 bytes)"));
      if (mode == SFM_READ) throw Error(cat(path, ": cannot read audio (", why, ")"));
      throw Error(cat(path, ": cannot open for writing (", why, ")"));
    }
  }
  ~SndFile() {
    if (f) sf_close(f);
  }
  SndFile(const SndFile&) = delete;
  SndFile& operator=(const SndFile&) = delete;
};

// libsndfile silently shortens a WAV/AIFF whose data chunk runs past the end of the file and only notes it in
// its log as "data : <header size> (should be <actual size>)". A header size at or above 0x7F000000 is the
// placeholder that streaming writers (e.g. `espeak-ng --stdout`) leave, not a truncation.
bool header_says_truncated(SNDFILE* f) {
  char log[8192] = {};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof log);
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("data :", 0) != 0 && line.rfind("SSND :", 0) != 0) continue;
    if (line.find("(should be") == std::string::npos) continue;
    const long long declared = std::atoll(line.c_str() + 6);
    if (declared > 0 && declared < 0x7F000000LL) return true;
  }
  return false;
}

std::string format_name(int format) {
  SF_FORMAT_INFO major{}, sub{};
  major.format = format & SF_FORMAT_TYPEMASK;
  sub.format = format & SF_FORMAT_SUBMASK;
  sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof major);
  sf_command(nullptr, SFC_GET_FORMAT_INFO, &sub, sizeof sub);
  return cat(major.name ? major.name : "?", " / ", sub.name ? sub.name : "?");
}

void check_header(const std::string& path, const SndFile& sf) {
  check(sf.info.channels > 0 && sf.info.samplerate > 0, path, ": invalid audio header (", sf.info.channels,
        " channels, ", sf.info.samplerate, " Hz)");
  check(!header_says_truncated(sf.f), path, ": truncated audio (the header's data size runs past the end of the file)");
  check(sf.info.frames > 0, path, ": audio file is empty (0 samples)");
}

void write_pcm16(const std::string& path, const std::vector<float>& samples, int sample_rate, int major_format) {
  check(sample_rate > 0, path, ": cannot write audio at sample rate ", sample_rate);
  for (size_t i = 0; i < samples.size(); ++i)
    check(std::isfinite(samples[i]), path, ": refusing to write non-finite sample ", samples[i], " at index ", i);
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = major_format | SF_FORMAT_PCM_16;
  check(sf_format_check(&info) == SF_TRUE, path, ": libsndfile cannot write ", format_name(info.format));
  const std::string tmp = temp_path_for(path);
  sf_count_t wrote = 0;
  {
    SndFile sf(tmp, SFM_WRITE, &info);
    // Without clipping, libsndfile wraps float values outside [-1, 1] around when converting to int16.
    sf_command(sf.f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
    wrote = sf_writef_float(sf.f, samples.data(), sf_count_t(samples.size()));
  }
  if (wrote != sf_count_t(samples.size())) {
    std::remove(tmp.c_str());
    throw Error(cat(path, ": short write (", wrote, " of ", samples.size(), " samples; disk full?)"));
  }
  commit_temp(tmp, path);
}

}  // namespace

AudioInfo read_audio_info(const std::string& path) {
  SndFile sf(path, SFM_READ);
  check_header(path, sf);
  return {int64_t(sf.info.frames), sf.info.samplerate, sf.info.channels, format_name(sf.info.format)};
}

Audio read_audio(const std::string& path, int target_rate) {
  check(target_rate >= 0, path, ": target sample rate must be >= 0, got ", target_rate);
  SndFile sf(path, SFM_READ);
  check_header(path, sf);
  const int channels = sf.info.channels;
  const int64_t frames = sf.info.frames;
  Audio a;
  a.sample_rate = sf.info.samplerate;
  a.samples.resize(size_t(frames));  // (frames,)
  // Decode in blocks so a long multichannel file never needs a second full-size buffer.
  constexpr int64_t kBlock = 1 << 15;
  std::vector<float> block(size_t(kBlock * channels));  // (kBlock, channels) interleaved
  int64_t done = 0;
  while (done < frames) {
    const sf_count_t want = std::min<int64_t>(kBlock, frames - done);
    const sf_count_t got = sf_readf_float(sf.f, block.data(), want);
    if (got <= 0) break;
    for (sf_count_t i = 0; i < got; ++i) {
      float s = 0;
      for (int c = 0; c < channels; ++c) s += block[size_t(i) * channels + c];
      a.samples[size_t(done + i)] = s / float(channels);
    }
    done += got;
  }
  check(sf_error(sf.f) == SF_ERR_NO_ERROR, path, ": corrupt audio (", sf_strerror(sf.f), ")");
  check(done == frames, path, ": truncated audio (header says ", frames, " samples, decoded ", done, ")");
  for (int64_t i = 0; i < frames; ++i)
    check(std::isfinite(a.samples[size_t(i)]), path, ": non-finite sample at ", double(i) / a.sample_rate, " s");
  if (target_rate != 0 && a.sample_rate != target_rate) {
    a.samples = resample(a.samples, a.sample_rate, target_rate);
    a.sample_rate = target_rate;
  }
  return a;
}

int64_t resampled_length(int64_t n, int in_rate, int out_rate) {
  check(in_rate > 0 && out_rate > 0 && n >= 0, "resample: bad rates ", in_rate, " -> ", out_rate, " Hz for ", n,
        " samples");
  // round(n * out / in), half up, in integers (n * out fits easily: n < 2^40, out < 2^20).
  return (n * int64_t(out_rate) + in_rate / 2) / in_rate;
}

std::vector<float> resample(const std::vector<float>& in, int in_rate, int out_rate) {
  const int64_t out_len = resampled_length(int64_t(in.size()), in_rate, out_rate);
  if (in_rate == out_rate) return in;
  std::vector<float> out(size_t(out_len) + 16);  // (out_len,) plus slack so soxr is never limited by olen
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  const soxr_error_t err = soxr_oneshot(in_rate, out_rate, 1, in.data(), in.size(), nullptr, out.data(), out.size(),
                                        nullptr, &io, &quality, nullptr);
  check(!err, "resample ", in_rate, " -> ", out_rate, " Hz: libsoxr failed (", err ? err : "", ")");
  // soxr's one-shot length is round(n * ratio) already; pin it so callers can rely on resampled_length().
  out.resize(size_t(out_len));
  return out;
}

void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate) {
  write_pcm16(path, samples, sample_rate, SF_FORMAT_WAV);
}

void write_flac(const std::string& path, const std::vector<float>& samples, int sample_rate) {
  write_pcm16(path, samples, sample_rate, SF_FORMAT_FLAC);
}

void write_audio(const std::string& path, const std::vector<float>& samples, int sample_rate) {
  if (path.ends_with(".flac")) return write_flac(path, samples, sample_rate);
  check(path.ends_with(".wav"), path, ": unsupported output extension (use .wav or .flac)");
  write_wav(path, samples, sample_rate);
}

}  // namespace hm
