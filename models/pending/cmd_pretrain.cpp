// `hubmamba pretrain`: HuBERT masked-prediction pretraining of any encoder layer type.
#include <iostream>

#include "train/cli.h"
#include "train/pretrain.h"

namespace hm::cli {
namespace {

int run_pretrain(int argc, char** argv) {
  Args args("pretrain",
            "HuBERT masked-prediction pretraining (fairseq recipe) on a fairseq manifest + .km labels.\n"
            "Every option can also be given in a JSON run config (--config); explicit flags win.\n"
            "Example: hubmamba pretrain --model tiny-conbimamba --data corpus --labels labels --out runs/it1");
  add_pretrain_options(args);
  if (!args.parse(argc, argv)) return 0;
  const PretrainConfig cfg = pretrain_config_from_args(args);
  const PretrainResult r = run_pretraining(cfg);
  std::cout << "pretrain: " << r.steps << " updates, loss " << r.final_loss << ", masked acc " << r.masked_acc
            << ", " << r.audio_seconds / r.seconds << " audio-s/s, checkpoint " << r.last_checkpoint << "\n";
  return 0;
}

const CommandRegistrar reg("pretrain", "HuBERT masked-prediction pretraining (iteration 1 or 2)", run_pretrain);

}  // namespace
}  // namespace hm::cli
