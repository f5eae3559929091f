// `hubmamba eval`: score recognition output against references. Today it scores text files (one utterance per
// line, line i of --hyp against line i of --ref); the model-driven evaluation decodes with train/decode.h,
// turns ids into words with Vocab::decode and hands the same score_corpus/report_json/format_details the
// resulting lines.
#include <iostream>

#include "train/atomic_file.h"
#include "train/cli.h"
#include "train/manifest.h"
#include "train/metrics.h"

namespace hm::cli {
namespace {

int run_eval(int argc, char** argv) {
  Args args("eval",
            "Word and character error rates of hypotheses against references (one utterance per line, same\n"
            "order and count). WER = (S + D + I) / N over words; CER over each word's characters plus its '|'\n"
            "separator (fairseq's uer). Writes corpus totals and per-utterance counts as JSON.");
  args.required("hyp", "hypotheses, one utterance per line")
      .required("ref", "references, one utterance per line (e.g. a .wrd file)")
      .required("out", "report JSON to write")
      .option("details", "", "also write per-utterance REF/HYP alignments (sclite style) to this text file");
  if (!args.parse(argc, argv)) return 0;
  const std::string hyp_path = args.str("hyp"), ref_path = args.str("ref");
  const std::vector<std::string> hyps = read_lines(hyp_path), refs = read_lines(ref_path);
  check(hyps.size() == refs.size(), "eval: ", hyp_path, " has ", hyps.size(), " lines but ", ref_path, " has ",
        refs.size(), " (one utterance per line in both)");
  const CorpusScore score = score_corpus(hyps, refs);

  Json report = report_json(score);
  report["hyp_file"] = hyp_path;
  report["ref_file"] = ref_path;
  const std::string out = args.str("out"), details = args.str("details");
  write_file_atomic(out, report.dump(1) + "\n");
  if (!details.empty()) write_file_atomic(details, format_details(score));

  std::cout << "eval: " << score.utterances.size() << " utterances, " << score.words.summary("WER") << ", "
            << score.letters.summary("CER") << "\neval: report written to " << out
            << (details.empty() ? "" : ", alignments to " + details) << "\n";
  return 0;
}

const CommandRegistrar reg("eval", "WER/CER (with S/D/I counts) of hypothesis lines against reference lines", run_eval);

}  // namespace
}  // namespace hm::cli
