// `hubmamba mfcc`: Kaldi-compatible features (train/features.h) for one WAV file or a whole manifest.
//   hubmamba mfcc --wav IN.wav --out OUT.npy                  float32 (T, 39) [or (T, 80) with --fbank]
//   hubmamba mfcc --manifest train.tsv --out-dir D            D/<relpath without extension>.npy per utterance
#include <iostream>

#include "engine/npy.h"
#include "train/audio.h"
#include "train/cli.h"
#include "train/feature_store.h"
#include "train/features.h"
#include "train/manifest.h"

namespace hm::cli {
namespace {

int run_mfcc(int argc, char** argv) {
  Args args("mfcc",
            "Kaldi-compatible MFCC + delta + delta-delta (39-d, 100 Hz; fairseq HuBERT iteration-1 targets) or 80-d "
            "log-mel filterbank (--fbank), exactly as torchaudio.compliance.kaldi computes them.");
  args.option("wav", "", "one input audio file (16 kHz)")
      .option("out", "", "output .npy for --wav")
      .option("manifest", "", "fairseq manifest .tsv (root line, then relpath<TAB>num_samples)")
      .option("out-dir", "", "output directory for --manifest: one .npy per utterance, mirroring relpath")
      .flag("fbank", "80-d log-mel filterbank instead of 39-d MFCC")
      .flag("quiet", "no progress line");
  if (!args.parse(argc, argv)) return 0;
  const feat::FeatureKind kind = args.on("fbank") ? feat::FeatureKind::fbank80 : feat::FeatureKind::mfcc39;
  const bool one = args.given("wav"), many = args.given("manifest");
  check(one != many, "hubmamba mfcc: give exactly one of --wav or --manifest");
  if (one) {
    check(args.given("out"), "hubmamba mfcc: --wav needs --out OUT.npy");
    const std::string path = args.str("wav");
    const Audio a = read_audio(path);
    const Tensor f = feat::compute_features(a.samples, kind, path);
    save_npy(args.str("out"), f);
    if (!args.on("quiet"))
      std::cout << path << ": " << a.samples.size() << " samples -> " << feat::feature_kind_name(kind) << " "
                << shape_str(f.shape()) << " -> " << args.str("out") << "\n";
    return 0;
  }
  check(args.given("out-dir"), "hubmamba mfcc: --manifest needs --out-dir D");
  const std::string tsv = args.str("manifest");
  const feat::DumpStats s = feat::dump_features(tsv, read_manifest(tsv), args.str("out-dir"), kind, !args.on("quiet"));
  std::cout << "mfcc: wrote " << s.utterances << " " << feat::feature_kind_name(kind) << " files (" << s.frames
            << " frames, " << s.audio_seconds << " s of audio) to " << args.str("out-dir") << " in " << s.wall_seconds
            << " s (" << s.audio_seconds / std::max(s.wall_seconds, 1e-9) << " audio-s/s)\n";
  return 0;
}

const CommandRegistrar reg("mfcc", "Kaldi MFCC(+deltas) / fbank features for a wav or a manifest", run_mfcc);

}  // namespace
}  // namespace hm::cli
