// `hubmamba asr` (a recogniser on fbank from scratch, or a downstream on a frozen upstream with --pretrained),
// `hubmamba finetune --downstream conformer ...` (forwarded here from cmd_finetune.cpp), and `hubmamba asr-decode`.
#include <iostream>

#include "train/asr_train.h"
#include "train/cli.h"
#include "train/manifest.h"
#include "train/options.h"

namespace hm::cli {

int run_asr(int argc, char** argv) {
  Args args("asr",
            "Train a speech recogniser (SPEC.md 7) and report its validation WER/CER:\n"
            "  from scratch:  80-d fbank -> Conv2dSubsampling x4 -> positions -> --downstream layers -> CTC\n"
            "                 [+ Transformer decoder with --decoder-layers N: hybrid CTC/attention loss]\n"
            "  downstream:    --pretrained CKPT: frozen upstream (--upstream-layers last | weighted) -> linear ->\n"
            "                 positions -> --downstream layers -> CTC [+ decoder]\n"
            "Example: hubmamba asr --downstream conbimamba --decoder-layers 2 --data corpus --out runs/conbimamba_asr");
  options::add_to_args<AsrTrainConfig>(args);
  if (!args.parse(argc, argv)) return 0;
  const FinetuneResult r = run_asr_training(options::from_args<AsrTrainConfig>(args));
  std::cout << "asr: " << r.steps << " updates, loss " << r.final_loss << ", valid " << r.valid.score.words.summary("WER")
            << ", " << r.valid.score.letters.summary("CER") << "\n";
  return 0;
}

namespace {

int run_asr_decode(int argc, char** argv) {
  Args args("asr-decode", "Decode a split with a checkpoint of `hubmamba asr` / `finetune --downstream` -> WER/CER.");
  args.required("ckpt", "checkpoint")
      .required("data", "directory with <split>.tsv and .wrd/.ltr")
      .option("split", "test", "split to decode")
      .option("decode", "auto", "auto (joint with a decoder, else CTC) | ctc | attention | joint")
      .option("beam", "4", "beam width (ctc: 1 = greedy)")
      .option("ctc-weight", "0.3", "CTC weight in joint decoding")
      .option("max-utterances", "0", "decode only the first N (0 = all)")
      .option("out", "", "write hypotheses (one per line) here");
  if (!args.parse(argc, argv)) return 0;
  const AsrDecodeConfig dc{args.str("decode"), args.integer("beam"), args.real("ctc-weight"), true};
  const EvalResult r = evaluate_asr(args.str("ckpt"), args.str("data"), args.str("split"), dc, args.integer("max-utterances"));
  if (!args.str("out").empty()) write_lines(args.str("out"), r.hyps);
  std::cout << args.str("split") << ": " << r.score.words.summary("WER") << ", " << r.score.letters.summary("CER") << "\n";
  return 0;
}

const CommandRegistrar reg("asr", "train a recogniser: fbank ConBiMamba/Conformer from scratch or a downstream on a frozen upstream",
                           run_asr);
const CommandRegistrar reg_dec("asr-decode", "decode a split with an `asr` checkpoint (CTC, attention or joint) -> WER/CER",
                               run_asr_decode);

}  // namespace
}  // namespace hm::cli
