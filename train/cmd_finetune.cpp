// `hubmamba finetune` (CTC fine-tuning) and the model-driven form of `hubmamba decode`.
#include <iostream>

#include "train/cli.h"
#include "train/finetune.h"
#include "train/manifest.h"
#include "train/options.h"

namespace hm::cli {

int run_asr(int argc, char** argv);  // train/cmd_asr.cpp

namespace {

// `--downstream X` (X != linear) selects a downstream encoder on the frozen upstream (train/asr_train.h); the
// default is fairseq's linear CTC head on the fine-tuned encoder.
bool wants_downstream(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--downstream=", 0) == 0) return a != "--downstream=linear";
    if (a == "--downstream") return i + 1 >= argc || std::string(argv[i + 1]) != "linear";
  }
  return false;
}

int run_finetune(int argc, char** argv) {
  if (wants_downstream(argc, argv)) return run_asr(argc, argv);
  Args args("finetune",
            "CTC fine-tuning of a pretrained encoder (fairseq base_10h recipe, scaled to small corpora).\n"
            "Example: hubmamba finetune --pretrained runs/it1/checkpoint_last.safetensors --data corpus --out runs/ft\n"
            "With --downstream conformer|conbimamba the upstream stays frozen and a downstream encoder + CTC head (and\n"
            "optionally an attention decoder) is trained on its last layer or weighted layer sum\n"
            "(--upstream-layers last|weighted); see `hubmamba asr --help` for those options.");
  options::add_to_args<FinetuneConfig>(args);
  if (!args.parse(argc, argv)) return 0;
  const FinetuneResult r = run_finetuning(options::from_args<FinetuneConfig>(args));
  std::cout << "finetune: " << r.steps << " updates, ctc " << r.final_loss << ", valid "
            << r.valid.score.words.summary("WER") << ", " << r.valid.score.letters.summary("CER") << "\n";
  return 0;
}

int run_decode(int argc, char** argv) {
  Args args("decode", "Decode a split with a fine-tuned CTC checkpoint and score it (WER/CER with S/D/I).");
  args.required("ckpt", "fine-tuned checkpoint")
      .required("data", "directory with <split>.tsv and .wrd/.ltr")
      .option("split", "test", "split to decode")
      .option("beam", "1", "beam width (1 = greedy)")
      .option("max-utterances", "0", "decode only the first N (0 = all)")
      .option("out", "", "write hypotheses (one per line) here");
  if (!args.parse(argc, argv)) return 0;
  const EvalResult r = evaluate_ctc(args.str("ckpt"), args.str("data"), args.str("split"), args.integer("beam"),
                                    args.integer("max-utterances"));
  if (!args.str("out").empty()) write_lines(args.str("out"), r.hyps);
  std::cout << args.str("split") << ": " << r.score.words.summary("WER") << ", " << r.score.letters.summary("CER") << "\n";
  return 0;
}

const CommandRegistrar reg_ft("finetune", "CTC fine-tuning of a pretrained encoder", run_finetune);
const CommandRegistrar reg_dec("decode", "decode a split with a fine-tuned checkpoint -> WER/CER", run_decode);

}  // namespace
}  // namespace hm::cli
