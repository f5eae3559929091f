// Micro corpora and a micro model for the training tests (test_dataset / test_pretrain / test_finetune /
// test_model_cli), built in a temp directory without any TTS engine:
//   * "tone" utterances: 16 kHz, 0.5-1.5 s, a sequence of segments, each a sine of one of kTones frequencies plus
//     a little noise. The .km label of a 10 ms frame is the tone playing in it, so the labels are learnable.
//   * "spelled" utterances for CTC: every letter A-D is a 0.12 s tone of its own frequency, words are separated by
//     short silences; .wrd/.ltr transcripts spell them.
//   * a 2-layer d_model-32 transformer with a 3-layer 16-channel CNN of stride 320 (50 Hz frames, like HuBERT).
#pragma once
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cpu/parallel.h"
#include "engine/json.h"
#include "engine/rng.h"
#include "train/audio.h"
#include "train/cli.h"
#include "train/manifest.h"

namespace hm::test {

// A fresh directory removed with its contents at scope exit.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("hm_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string str(const std::string& rel = "") const { return rel.empty() ? path.string() : (path / rel).string(); }
};

// Sets the kernel/BLAS thread count for a scope. The micro model's tensors are far below any size that gains from
// threads; on the shared 2-core test machine every OpenMP barrier could then cost a scheduler time slice (measured:
// a fine-tuning step took 1 ms with one thread and 50-700 ms with two under load), so the long-running loops use
// one thread. The resume tests keep two so that bit-exactness is checked with the threaded kernels.
struct ThreadScope {
  int saved;
  explicit ThreadScope(int n) : saved(cpu::num_threads()) { cpu::set_num_threads(n); }
  ~ThreadScope() { cpu::set_num_threads(saved); }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;
};

constexpr int kTones = 4;
inline double tone_hz(int k) { return 300.0 * std::pow(1.9, k); }  // 300, 570, 1083, 2058 Hz

// `n` samples of a sine at `hz` (amplitude 0.4, 5 ms raised-cosine edges against clicks) plus N(0, noise^2).
inline std::vector<float> tone(double hz, int64_t n, double noise, Generator& gen) {
  std::vector<float> out(static_cast<size_t>(n));
  const double ramp = 80;
  for (int64_t i = 0; i < n; ++i) {
    const double env = std::min({1.0, double(i) / ramp, double(n - 1 - i) / ramp});
    const double u1 = std::max(gen.next_double(), 1e-12), u2 = gen.next_double();
    const double g = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);  // Box-Muller
    out[size_t(i)] =
        float(hz > 0 ? 0.4 * env * std::sin(2 * M_PI * hz * double(i) / kSampleRate) + noise * g : noise * g);
  }
  return out;
}

struct ToneUtterance {
  std::vector<float> samples;
  std::vector<int32_t> labels;  // one per 10 ms frame (100 Hz): the tone of the frame's first sample
};

// Segments of 0.15-0.35 s with random tones; total length `n` samples.
inline ToneUtterance tone_utterance(int64_t n, Generator& gen) {
  ToneUtterance u;
  std::vector<int32_t> tone_of(static_cast<size_t>(n));
  while (int64_t(u.samples.size()) < n) {
    const int k = int(gen.next_below(kTones));
    const int64_t len = std::min<int64_t>(2400 + int64_t(gen.next_below(3200)), n - int64_t(u.samples.size()));
    for (int64_t i = 0; i < len; ++i) tone_of[u.samples.size() + size_t(i)] = k;
    const std::vector<float> seg = tone(tone_hz(k), len, 0.01, gen);
    u.samples.insert(u.samples.end(), seg.begin(), seg.end());
  }
  // 100 Hz labels: round(n / 160) frames, as `hubmamba label` writes for 10 ms MFCC frames.
  const int64_t frames = std::lround(double(n) / 160.0);
  for (int64_t f = 0; f < frames; ++f) u.labels.push_back(tone_of[size_t(std::min<int64_t>(f * 160, n - 1))]);
  return u;
}

// Writes DIR/audio/uNN.wav, DIR/<split>.tsv (absolute root) and DIR/<split>.km for utterances of the given
// lengths; returns the utterances.
inline std::vector<ToneUtterance> write_tone_corpus(const std::string& dir, const std::string& split,
                                                    const std::vector<int64_t>& lengths, uint64_t seed) {
  Generator gen(seed);
  std::filesystem::create_directories(dir + "/audio");
  Manifest m;
  m.root = std::filesystem::absolute(dir + "/audio").string();
  std::vector<ToneUtterance> utts;
  std::vector<std::vector<int32_t>> km;
  for (size_t i = 0; i < lengths.size(); ++i) {
    utts.push_back(tone_utterance(lengths[i], gen));
    const std::string rel = split + "_u" + std::to_string(i) + ".wav";
    write_wav(m.root + "/" + rel, utts.back().samples, kSampleRate);
    m.entries.push_back({rel, lengths[i]});
    km.push_back(utts.back().labels);
  }
  write_manifest(dir + "/" + split + ".tsv", m);
  write_km(dir + "/" + split + ".km", km);
  return utts;
}

// The samples a 16-bit WAV round trip gives back (what the dataset reads).
inline std::vector<float> read_back(const std::string& path) { return read_audio(path).samples; }

// "Spelled" words: letters A-D as 0.12 s tones, 0.08 s of near-silence after every word (the '|' of .ltr) and
// 0.05 s before the first. Writes DIR/audio/<split>_sNN.wav, <split>.tsv, .wrd and .ltr.
inline void write_spelled_corpus(const std::string& dir, const std::string& split,
                                 const std::vector<std::string>& sentences, uint64_t seed) {
  Generator gen(seed);
  std::filesystem::create_directories(dir + "/audio");
  Manifest m;
  m.root = std::filesystem::absolute(dir + "/audio").string();
  std::vector<std::string> wrd, ltr;
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::vector<float> s = tone(0, 800, 0.003, gen);
    for (char c : sentences[i]) {
      const std::vector<float> seg = c == ' ' ? tone(0, 1280, 0.003, gen) : tone(tone_hz(c - 'A'), 1920, 0.01, gen);
      s.insert(s.end(), seg.begin(), seg.end());
    }
    const std::vector<float> tail = tone(0, 1280, 0.003, gen);
    s.insert(s.end(), tail.begin(), tail.end());
    const std::string rel = split + "_s" + std::to_string(i) + ".wav";
    write_wav(m.root + "/" + rel, s, kSampleRate);
    m.entries.push_back({rel, int64_t(s.size())});
    wrd.push_back(sentences[i]);
    ltr.push_back(words_to_letters(sentences[i]));
  }
  write_manifest(dir + "/" + split + ".tsv", m);
  write_lines(dir + "/" + split + ".wrd", wrd);
  write_lines(dir + "/" + split + ".ltr", ltr);
}

// Micro transformer: 2 layers, d 32, CNN (16,10,5),(16,8,8),(16,8,8) = stride 320, receptive field 325 samples.
inline Json micro_model_json(double dropout = 0.0, double layerdrop = 0.0) {
  Json j = Json::parse(R"({
    "name": "micro-transformer", "layer_type": "transformer", "num_layers": 2, "d_model": 32, "ffn_dim": 64,
    "num_heads": 4, "conv_layers": [[16, 10, 5], [16, 8, 8], [16, 8, 8]], "feature_grad_mult": 0.1,
    "pos_conv_kernel": 8, "pos_conv_groups": 4, "attention_dropout": 0.0, "activation_dropout": 0.0,
    "dropout_input": 0.0, "final_dim": 16, "num_classes": 4, "logit_temp": 0.1, "label_rate": 100.0})",
                       "micro model");
  j["dropout"] = dropout;
  j["encoder_layerdrop"] = layerdrop;
  return j;
}

inline std::string write_micro_model(const std::string& dir, double dropout = 0.0, double layerdrop = 0.0) {
  const std::string path = dir + "/micro_model.json";
  std::ofstream(path) << micro_model_json(dropout, layerdrop).dump(2) << "\n";
  return path;
}

// argv-style call of a registered subcommand (its handlers live in anonymous namespaces; the registry is public
// and the test binary links the whole library archive, so every CommandRegistrar has run).
inline int run_command(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return cli::commands().at(args.at(0)).run(int(args.size()), argv.data());
}

}  // namespace hm::test
