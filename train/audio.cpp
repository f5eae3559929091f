#include "train/audio.h"

#include <sndfile.h>

#include <cstdio>

#include "engine/error.h"

namespace hm {

Audio read_audio(const std::string& path, int target_rate) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  check(f != nullptr, path, ": cannot read audio (", sf_strerror(nullptr), ")");
  std::vector<float> interleaved(size_t(info.frames) * size_t(info.channels));
  const sf_count_t got = sf_readf_float(f, interleaved.data(), info.frames);
  sf_close(f);
  check(info.frames > 0, path, ": audio file is empty");
  check(got == info.frames, path, ": truncated audio (header says ", info.frames, " frames, read ", got, ")");
  Audio a;
  a.sample_rate = info.samplerate;
  a.samples.resize(size_t(info.frames));
  for (sf_count_t i = 0; i < info.frames; ++i) {
    float s = 0;
    for (int c = 0; c < info.channels; ++c) s += interleaved[size_t(i) * info.channels + c];
    a.samples[size_t(i)] = s / float(info.channels);
  }
  check(target_rate == 0 || a.sample_rate == target_rate, path, ": sample rate ", a.sample_rate,
        " Hz, expected ", target_rate, " Hz (resampling arrives with the audio issue)");
  return a;
}

void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  const std::string tmp = path + ".tmp";
  SNDFILE* f = sf_open(tmp.c_str(), SFM_WRITE, &info);
  check(f != nullptr, path, ": cannot open for writing (", sf_strerror(nullptr), ")");
  const sf_count_t wrote = sf_writef_float(f, samples.data(), sf_count_t(samples.size()));
  sf_close(f);
  check(wrote == sf_count_t(samples.size()), path, ": short write");
  check(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename temporary file into place");
}

}  // namespace hm
