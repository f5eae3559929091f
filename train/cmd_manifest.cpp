// `hubmamba manifest`: a LibriSpeech-style audio tree -> fairseq manifests (train.tsv / valid.tsv) and, when the
// tree carries `speaker-chapter.trans.txt` files, transcripts (.wrd words, .ltr letters). Like fairseq's
// examples/wav2vec/wav2vec_manifest.py followed by libri_labels.py, except that every file is decoded (so
// corrupt files are caught here, not mid-training) and num_samples is the 16 kHz length.
#include <iostream>

#include "train/cli.h"
#include "train/manifest.h"

namespace hm::cli {
namespace {

int run_manifest(int argc, char** argv) {
  Args args("manifest",
            "Write fairseq manifests (train.tsv, valid.tsv: root line, then path<TAB>num_samples at 16 kHz) for\n"
            "every audio file under --root, plus .wrd/.ltr transcripts from LibriSpeech .trans.txt files.");
  args.required("root", "directory to scan recursively")
      .required("out-dir", "where to write the manifests")
      .option("valid-percent", "0.01", "fraction of files (0..1) that go to valid.tsv, at random")
      .option("ext", "flac", "audio file extension to look for")
      .option("seed", "42", "seed of the train/valid split")
      .option("path-must-contain", "", "only files whose relative path contains this text")
      .option("jobs", "2", "decoding threads")
      .flag("skip-bad", "skip unreadable files (listed in OUT_DIR/skipped.txt) instead of failing")
      .flag("quiet", "no progress output");
  if (!args.parse(argc, argv)) return 0;
  ManifestOptions o;
  o.root = args.str("root");
  o.out_dir = args.str("out-dir");
  o.valid_percent = args.real("valid-percent");
  o.ext = args.str("ext");
  o.seed = uint64_t(args.integer("seed"));
  o.path_must_contain = args.str("path-must-contain");
  o.jobs = int(args.integer("jobs"));
  o.skip_bad = args.on("skip-bad");
  o.progress = !args.on("quiet");
  const ManifestReport r = build_manifests(o);
  std::cerr << "manifest: wrote " << r.train << " train and " << r.valid << " valid utterances to " << o.out_dir
            << (r.transcripts ? " (with .wrd/.ltr transcripts)" : " (no .trans.txt transcripts found)") << "\n";
  for (const std::string& s : r.skipped) std::cerr << "manifest: skipped " << s << "\n";
  if (!r.skipped.empty())
    std::cerr << "manifest: " << r.skipped.size() << " files skipped, listed in " << o.out_dir << "/skipped.txt\n";
  return 0;
}

const CommandRegistrar reg("manifest", "LibriSpeech-style tree -> fairseq .tsv manifests + .wrd/.ltr transcripts",
                           run_manifest);

}  // namespace
}  // namespace hm::cli
