// Kaldi-compatible MFCC / fbank against torchaudio fixtures (tools/reference/make_feature_fixtures.py), deltas,
// the power_spectrum kernel variants, and error handling.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "cpu/parallel.h"
#include "engine/npy.h"
#include "tests/test_util.h"
#include "train/audio.h"
#include "train/cli.h"
#include "train/feature_store.h"
#include "train/features.h"
#include "train/manifest.h"

namespace hm::test {
namespace {

std::string fixture(const std::string& name) { return std::string(HM_SOURCE_DIR) + "/tests/fixtures/features/" + name; }

// Relative error of `got` against `ref`, per feature column against that column's scale:
//   max_f  max_t |got - ref| / max(max_t |ref[:, f]|, 0.01 * max_{t,f} |ref|).
// MFCC and delta values cross zero, so a per-element relative error would divide by ~0. The 1 % floor is for
// columns that are zero in exact arithmetic (the deltas of a one-frame utterance, which torch's float32 conv
// returns as ~1e-7 roundoff): their error is measured against the features they were derived from. Both sides
// are float32 pipelines; against a float64 torchaudio run each is off by about the same amount (~1e-4 of a
// column's scale in the low mel bins of a high chirp frame, where the FFT's absolute roundoff dominates).
double column_relative_error(const Tensor& got, const Tensor& ref) {
  EXPECT_EQ(shape_str(got.shape()), shape_str(ref.shape()));
  if (got.shape() != ref.shape()) return INFINITY;
  const int64_t T = ref.size(0), F = ref.size(1);
  const float* g = got.data<float>();
  const float* r = ref.data<float>();
  double all = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) all = std::max(all, double(std::abs(r[i])));
  double worst = 0;
  for (int64_t f = 0; f < F; ++f) {
    double scale = 0.01 * all, err = 0;
    for (int64_t t = 0; t < T; ++t) {
      scale = std::max(scale, double(std::abs(r[t * F + f])));
      err = std::max(err, double(std::abs(g[t * F + f] - r[t * F + f])));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

const char* kFixtureSignals[] = {"chirp_noise_8077", "one_frame_400", "two_frames_561", "silence_then_tone_4000",
                                 "voiced_9600"};

TEST(Features, MfccMatchesTorchaudioFixtures) {
  for (const char* name : kFixtureSignals) {
    SCOPED_TRACE(name);
    const Audio a = read_audio(fixture(std::string(name) + ".wav"));
    const Tensor got = feat::compute_features(a.samples, feat::FeatureKind::mfcc39, name);
    const Tensor ref = load_npy(fixture(std::string(name) + ".mfcc.npy"));
    const double err = column_relative_error(got, ref);
    EXPECT_LT(err, 1e-4);
    std::printf("%s mfcc: %s rel err %.3g\n", name, shape_str(ref.shape()).c_str(), err);
  }
}

TEST(Features, FbankMatchesTorchaudioFixtures) {
  for (const char* name : kFixtureSignals) {
    SCOPED_TRACE(name);
    const Audio a = read_audio(fixture(std::string(name) + ".wav"));
    const Tensor got = feat::compute_features(a.samples, feat::FeatureKind::fbank80, name);
    const Tensor ref = load_npy(fixture(std::string(name) + ".fbank.npy"));
    const double err = column_relative_error(got, ref);
    EXPECT_LT(err, 1e-4);
    std::printf("%s fbank: %s rel err %.3g\n", name, shape_str(ref.shape()).c_str(), err);
  }
}

TEST(Features, ShorterThanOneFrameIsAnErrorLikeTorchaudio) {
  // torchaudio asserts (the fixture script records its message instead of writing features).
  ASSERT_TRUE(std::filesystem::exists(fixture("short_300.error.txt")));
  const Audio a = read_audio(fixture("short_300.wav"));
  ASSERT_EQ(a.samples.size(), 300u);
  for (auto kind : {feat::FeatureKind::mfcc39, feat::FeatureKind::fbank80})
    EXPECT_TRUE(throws_with([&] { feat::compute_features(a.samples, kind, "short_300.wav"); },
                            "short_300.wav: 300 samples is shorter than one 25 ms frame (400 samples"));
}

TEST(Features, FrameCountsFollowSnipEdges) {
  const feat::KaldiFrontend fe;
  EXPECT_EQ(fe.window_size(), 400);
  EXPECT_EQ(fe.window_shift(), 160);
  EXPECT_EQ(fe.fft_size(), 512);
  EXPECT_EQ(fe.num_frames(399), 0);
  EXPECT_EQ(fe.num_frames(400), 1);
  EXPECT_EQ(fe.num_frames(559), 1);
  EXPECT_EQ(fe.num_frames(560), 2);
  EXPECT_EQ(fe.num_frames(16000), 98);
  // Every mel filter has weight somewhere, and the Nyquist column is the zero padding column.
  const auto& banks = fe.mel_banks();  // (23, 257)
  for (int b = 0; b < 23; ++b) {
    float sum = 0;
    for (int k = 0; k < 257; ++k) sum += banks[size_t(b * 257 + k)];
    EXPECT_GT(sum, 0.5f) << "mel bin " << b;
    EXPECT_EQ(banks[size_t(b * 257 + 256)], 0.0f);
  }
}

TEST(Features, NonFiniteWaveformIsAnError) {
  std::vector<float> w(1000, 0.1f);
  w[517] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(throws_with([&] { feat::compute_features(w, feat::FeatureKind::mfcc39, "bad.wav"); },
                          "bad.wav: waveform sample 517 is not finite"));
}

TEST(Features, DeltasMatchTorchaudioComputeDeltas) {
  for (int T : {1, 2, 3, 7}) {
    SCOPED_TRACE(T);
    const Tensor x = load_npy(fixture("deltas_T" + std::to_string(T) + ".in.npy"));     // (T, 13)
    const Tensor ref = load_npy(fixture("deltas_T" + std::to_string(T) + ".out.npy"));  // (T, 13)
    EXPECT_TRUE(all_close(feat::compute_deltas(x), ref, 1e-6, 1e-5));
  }
}

TEST(Features, DeltasReplicateEdges) {
  // x[t] = t^2 on T = 5 frames, padded by replication: [0 0 | 0 1 4 9 16 | 16 16].
  // d[t] = (-2 x[t-2] - x[t-1] + x[t+1] + 2 x[t+2]) / 10.
  const Tensor x = from_vector<float>({0, 1, 4, 9, 16}, {5, 1});
  const std::vector<float> expect = {(-0 - 0 + 1 + 2 * 4) / 10.0f, (-0 - 0 + 4 + 2 * 9) / 10.0f,
                                     (-0 - 1 + 9 + 2 * 16) / 10.0f, (-2 * 1 - 4 + 16 + 2 * 16) / 10.0f,
                                     (-2 * 4 - 9 + 16 + 2 * 16) / 10.0f};
  EXPECT_TRUE(all_close(feat::compute_deltas(x), from_vector<float>(expect, {5, 1}), 1e-6, 1e-6));
  // A constant signal has zero deltas everywhere, edges included; one frame gives zeros.
  EXPECT_TRUE(all_close(feat::compute_deltas(full({4, 3}, 2.5)), zeros({4, 3}), 0, 0));
  EXPECT_TRUE(all_close(feat::compute_deltas(full({1, 3}, -7.0)), zeros({1, 3}), 0, 0));
  // win_length 3 uses N = 1, denominator 2.
  EXPECT_TRUE(all_close(feat::compute_deltas(x, 3), from_vector<float>({0.5f, 2, 4, 6, 3.5f}, {5, 1}), 1e-6, 0));
  EXPECT_TRUE(throws_with([&] { feat::compute_deltas(x, 2); }, "win_length must be >= 3"));
  EXPECT_TRUE(throws_with([&] { feat::compute_deltas(zeros({5})); }, "expected a (T, F) float32 tensor"));
}

TEST(Features, PowerSpectrumVariantsAgree) {
  // conformance: power_spectrum
  const auto& table = feat::power_spectrum_table();
  check_all_variants(table, [&](const std::string& name, cpu::PowerSpectrumFn fn) {
    for (int64_t n : {2, 6, 64, 400, 512}) {
      for (int64_t frames : {1, 3, 7}) {
        Generator gen(uint64_t(n * 31 + frames));
        const Tensor x = randn({frames, n}, DType::f32, gen);
        Tensor got = full({frames, n / 2 + 1}, std::nan(""));
        Tensor ref = full({frames, n / 2 + 1}, std::nan(""));
        fn(x.data<float>(), frames, n, got.data<float>());
        cpu::power_spectrum_scalar(x.data<float>(), frames, n, ref.data<float>());
        // |X_k|^2 ~ n for unit noise; FFT roundoff is relative to the largest bins.
        EXPECT_TRUE(all_close(got, ref, 1e-5 * double(n), 1e-5)) << name << " n=" << n << " frames=" << frames;
      }
    }
    EXPECT_TRUE(throws_with([&] { fn(nullptr, 1, 7, nullptr); }, "frame length must be even"));
  });
}

TEST(Features, PowerSpectrumOfACosineIsTwoSpikes) {
  // x[j] = cos(2 pi 5 j / 64): |X_5|^2 = (64 / 2)^2, every other bin 0.
  std::vector<float> x(64);
  for (int j = 0; j < 64; ++j) x[size_t(j)] = float(std::cos(2 * M_PI * 5 * j / 64.0));
  std::vector<float> p(33);
  cpu::power_spectrum_fftw(x.data(), 1, 64, p.data());
  for (int k = 0; k < 33; ++k) EXPECT_NEAR(p[size_t(k)], k == 5 ? 1024.0f : 0.0f, 1e-3f) << k;
}

TEST(Features, BatchIsThreadCountIndependent) {
  std::vector<std::vector<float>> wavs;
  Generator gen(7);
  for (int64_t n : {400, 999, 4321, 16000}) {
    const Tensor w = randn({n}, DType::f32, gen);
    std::vector<float> v = w.to_vector<float>();
    for (float& s : v) s *= 0.1f;
    wavs.push_back(v);
  }
  const int saved = cpu::num_threads();
  cpu::set_num_threads(1);
  const auto one = feat::compute_features_batch(wavs, feat::FeatureKind::mfcc39);
  cpu::set_num_threads(2);
  const auto two = feat::compute_features_batch(wavs, feat::FeatureKind::mfcc39);
  cpu::set_num_threads(saved);
  ASSERT_EQ(one.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(one[i].size(1), 39);
    EXPECT_TRUE(all_close(one[i], two[i], 0, 0)) << i;
  }
  wavs[2].resize(100);
  EXPECT_TRUE(throws_with([&] { feat::compute_features_batch(wavs, feat::FeatureKind::fbank80); },
                          "utterance 2: 100 samples is shorter"));
}

// A temporary directory removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("hm_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

TEST(Features, ManifestDumpWritesOneNpyPerUtterance) {
  TempDir dir("feat_dump");
  std::filesystem::create_directories(dir.path / "audio" / "spk1");
  const std::vector<std::string> rel = {"spk1/a.wav", "spk1/b.wav", "c.wav"};
  std::vector<std::vector<float>> wavs;
  std::string tsv = (dir.path / "audio").string() + "\n";
  Generator gen(3);
  for (size_t i = 0; i < rel.size(); ++i) {
    std::vector<float> v = uniform({int64_t(800 + 1700 * i)}, -0.5, 0.5, DType::f32, gen).to_vector<float>();
    write_wav(dir / ("audio/" + rel[i]), v, 16000);
    wavs.push_back(read_audio(dir / ("audio/" + rel[i])).samples);  // int16-quantised as on disk
    tsv += rel[i] + "\t" + std::to_string(v.size()) + "\n";
  }
  std::ofstream(dir / "train.tsv") << tsv;
  const Manifest m = read_manifest(dir / "train.tsv");
  ASSERT_EQ(m.entries.size(), 3u);
  const feat::DumpStats s = feat::dump_features(dir / "train.tsv", m, dir / "feats", feat::FeatureKind::mfcc39, false);
  EXPECT_EQ(s.utterances, 3);
  EXPECT_NEAR(s.audio_seconds, (800 + 2500 + 4200) / 16000.0, 1e-9);
  for (size_t i = 0; i < rel.size(); ++i) {
    const std::string f = feat::feature_path(dir / "feats", rel[i]);
    const Tensor got = load_npy(f);
    EXPECT_TRUE(all_close(got, feat::compute_features(wavs[i], feat::FeatureKind::mfcc39, "x"), 0, 0)) << f;
  }
  EXPECT_EQ(feat::feature_path("D", "spk1/a.wav"), "D/spk1/a.npy");

  // The CLI on one file.
  std::string a0 = "mfcc", a1 = "--wav", a2 = dir / "audio/c.wav", a3 = "--out", a4 = dir / "c_fbank.npy",
              a5 = "--fbank", a6 = "--quiet";
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), a5.data(), a6.data()};
  EXPECT_EQ(cli::commands().at("mfcc").run(7, argv), 0);
  EXPECT_EQ(load_npy(dir / "c_fbank.npy").size(1), 80);

  // The CLI on a manifest whose root is relative: hm::read_manifest resolves it against the .tsv's directory,
  // not the working directory.
  std::ofstream(dir / "rel.tsv") << "audio\nc.wav\t4200\n";
  std::string b0 = "mfcc", b1 = "--manifest", b2 = dir / "rel.tsv", b3 = "--out-dir", b4 = dir / "frel", b5 = "--quiet";
  char* bargv[] = {b0.data(), b1.data(), b2.data(), b3.data(), b4.data(), b5.data()};
  EXPECT_EQ(cli::commands().at("mfcc").run(6, bargv), 0);
  EXPECT_EQ(load_npy(dir / "frel/c.npy").size(1), 39);

  // Stale manifest, missing audio, malformed line, no utterances.
  auto dump = [&](const std::string& tsv) {
    feat::dump_features(dir / tsv, read_manifest(dir / tsv), dir / "f2", feat::FeatureKind::mfcc39, false);
  };
  std::ofstream(dir / "stale.tsv") << (dir.path / "audio").string() << "\nc.wav\t123\n";
  EXPECT_TRUE(throws_with([&] { dump("stale.tsv"); }, "samples but the manifest"));
  std::ofstream(dir / "missing.tsv") << (dir.path / "audio").string() << "\nnope.wav\t1000\n";
  EXPECT_TRUE(throws_with([&] { dump("missing.tsv"); }, "nope.wav"));
  std::ofstream(dir / "bad.tsv") << "/root\nno_tab_here\n";
  EXPECT_TRUE(throws_with([&] { dump("bad.tsv"); }, "bad.tsv:2: expected 'relative/path<TAB>num_samples'"));
  EXPECT_TRUE(throws_with([&] { dump("none.tsv"); }, "none.tsv: cannot open for reading"));
  std::ofstream(dir / "empty.tsv") << (dir.path / "audio").string() << "\n";
  EXPECT_TRUE(throws_with([&] { dump("empty.tsv"); }, "empty.tsv: manifest lists no utterances"));
}

}  // namespace
}  // namespace hm::test
