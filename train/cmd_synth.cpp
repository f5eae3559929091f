// `hubmamba synth`: build the synthetic multi-speaker English corpus (train/synth.h) and print what was made.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "train/cli.h"
#include "train/synth.h"

namespace hm::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

int run_synth(int argc, char** argv) {
  Args args("synth",
            "Synthesize a multi-speaker English corpus in LibriSpeech layout (OUT/audio/{train,valid,test}/...)\n"
            "with fairseq manifests OUT/{train,valid,test}.{tsv,wrd,ltr} and OUT/SPEAKERS.TXT, using the\n"
            "espeak-ng, flite and festival voices installed here. Test speakers and test/valid sentences are\n"
            "held out from training. The corpus is a function of --seed (and the installed voices).");
  args.required("out-dir", "output directory")
      .option("hours", "1.5", "audio to synthesize, in hours (ignored with --utterances)")
      .option("utterances", "0", "exact number of utterances instead of --hours")
      .option("seed", "1", "seed for speakers, sentences, splits, rates and pitches")
      .option("jobs", "2", "parallel synthesis processes")
      .option("speakers", "40", "number of speakers (at most; limited by the installed voices)")
      .option("test-speaker-fraction", "0.2", "share of speakers held out for the test split")
      .option("valid-fraction", "0.05", "share of utterances in valid (training speakers, held-out sentences)")
      .option("test-fraction", "0.05", "share of utterances in test (held-out speakers and sentences)")
      .option("engines", "espeak-ng,flite,festival", "comma-separated TTS engines to use")
      .option("sentences", "", "sentence list (default: the project's data/sentences.txt)")
      .option("timeout", "60", "seconds before a synthesis process is killed")
      .flag("skip-bad", "skip utterances whose synthesis fails (listed in OUT/skipped.txt)")
      .flag("overwrite", "replace an existing OUT/audio")
      .flag("quiet", "no progress output");
  if (!args.parse(argc, argv)) return 0;
  synth::Options o;
  o.out_dir = args.str("out-dir");
  o.hours = args.real("hours");
  o.utterances = args.integer("utterances");
  o.seed = uint64_t(args.integer("seed"));
  o.jobs = int(args.integer("jobs"));
  o.speakers = int(args.integer("speakers"));
  o.test_speaker_fraction = args.real("test-speaker-fraction");
  o.valid_fraction = args.real("valid-fraction");
  o.test_fraction = args.real("test-fraction");
  o.engines = split_commas(args.str("engines"));
  o.sentences = args.str("sentences");
  o.timeout_s = args.real("timeout");
  o.skip_bad = args.on("skip-bad");
  o.overwrite = args.on("overwrite");
  o.progress = !args.on("quiet");
  const synth::Report r = synth::build_corpus(o);
  const char* names[3] = {"train", "valid", "test"};
  char line[256];
  for (int s = 0; s < 3; ++s) {
    std::snprintf(line, sizeof line, "synth: %-5s %6lld utterances, %7.1f min", names[s], (long long)r.utterances[s],
                  r.seconds[s] / 60);
    std::cerr << line << "\n";
  }
  const double total = r.seconds[0] + r.seconds[1] + r.seconds[2];
  std::snprintf(line, sizeof line,
                "%d training and %d test speakers; %.2f h of audio in %.1f s (%.1f audio-s/s at --jobs %d)",
                r.speakers[0], r.speakers[1], total / 3600, r.wall_s, total / r.wall_s, o.jobs);
  std::cerr << "synth: " << line << "; manifests in " << o.out_dir << "\n";
  if (!r.skipped.empty())
    std::cerr << "synth: " << r.skipped.size() << " utterances failed and were skipped, see " << o.out_dir
              << "/skipped.txt\n";
  return 0;
}

const CommandRegistrar reg("synth", "build a synthetic multi-speaker English corpus (espeak-ng/flite/festival)",
                           run_synth);

}  // namespace
}  // namespace hm::cli
