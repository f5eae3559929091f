// `hubmamba demo`: the whole pipeline on a fresh machine, with no arguments (the README's main command).
//   synthetic corpus -> MFCC -> k-means labels -> pretrain tiny-transformer and tiny-conbimamba (iteration 1;
//   iteration 2 with --full) -> CTC fine-tuning -> WER/CER on held-out speakers -> per-layer MI -> report.
// Each stage runs the same subcommand a user would (so the demo doubles as a worked example), and the budget
// (--minutes, default 25 on 2 cores) is split across the stages.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "engine/json.h"
#include "train/atomic_file.h"
#include "train/cli.h"
#include "train/finetune.h"
#include "train/mi_analysis.h"
#include "train/options.h"
#include "train/plot.h"
#include "train/pretrain.h"

namespace hm::cli {
namespace {
namespace fs = std::filesystem;

// Run another subcommand with the given arguments, exactly as from the shell.
void run_command(const std::vector<std::string>& words) {
  std::vector<std::string> storage = words;
  std::vector<char*> argv;
  for (auto& w : storage) argv.push_back(w.data());
  std::cerr << "\n$ hubmamba";
  for (const auto& w : words) std::cerr << " " << w;
  std::cerr << "\n";
  auto it = commands().find(words[0]);
  check(it != commands().end(), "demo: internal error, no command ", words[0]);
  const int rc = it->second.run(int(argv.size()), argv.data());
  check(rc == 0, "demo: `hubmamba ", words[0], "` failed with exit code ", rc);
}

std::string fmt(double v, int digits = 3) {
  std::ostringstream os;
  os.precision(digits);
  os << std::fixed << v;
  return os.str();
}

struct ModelPlan {
  std::string preset;
  double ms_per_update;  // measured on the 2-core reference machine (bench/RESULTS.md), for the update budget
};

int run_demo(int argc, char** argv) {
  Args args("demo",
            "End-to-end demo on a synthetic corpus: synth -> MFCC -> k-means -> HuBERT pretraining of\n"
            "tiny-transformer and tiny-conbimamba -> CTC fine-tuning -> WER/CER -> per-layer MI -> OUT/report.md.\n"
            "The corpus in OUT/corpus is reused when present; runs go to OUT/runs.");
  args.option("out", "demo_out", "output directory")
      .option("minutes", "25", "total time budget in minutes (stages scale with it)")
      .option("hours", "0.4", "size of the synthetic corpus in hours of audio")
      .option("clusters", "100", "k-means clusters for iteration 1")
      .option("seed", "1", "random seed")
      .option("mi-utterances", "50", "test utterances averaged in the per-layer MI analysis (paper: 1000)")
      .flag("full", "also run HuBERT iteration 2 (relabel layer features, pretrain again)")
      .flag("overwrite", "replace OUT/runs from an earlier demo");
  if (!args.parse(argc, argv)) return 0;
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const std::string out = args.str("out"), corpus = out + "/corpus", runs = out + "/runs";
  const double minutes = args.real("minutes");
  check(minutes >= 2, "demo: --minutes must be at least 2, got ", minutes);
  const std::string seed = args.str("seed");
  if (fs::exists(runs)) {
    check(args.on("overwrite"), runs, ": exists from an earlier demo; pass --overwrite to replace it or --out DIR");
    fs::remove_all(runs);
  }
  fs::create_directories(runs);

  // 1. Corpus (reused when an earlier demo made it).
  if (!fs::exists(corpus + "/train.tsv"))
    run_command({"synth", "--out-dir", corpus, "--hours", args.str("hours"), "--seed", seed, "--engines",
                 "espeak-ng,flite"});
  // 2-3. Iteration-1 targets: MFCC + k-means on the training split.
  run_command({"mfcc", "--manifest", corpus + "/train.tsv", "--out-dir", runs + "/mfcc"});
  run_command({"kmeans", "--feat-dir", runs + "/mfcc", "--manifest", corpus + "/train.tsv", "--n-clusters",
               args.str("clusters"), "--percent", "100", "--n-init", "3", "--seed", seed, "--out", runs + "/km1.npy"});
  run_command({"label", "--feat-dir", runs + "/mfcc", "--manifest", corpus + "/train.tsv", "--km", runs + "/km1.npy",
               "--out", runs + "/labels1/train.km", "--report", runs + "/labels1/quality.json"});

  // Budget: 2 models x (pretrain + fine-tune) get ~85 % of the time; iteration 2 halves each pretraining share.
  const double used_min = std::chrono::duration<double>(clock::now() - t0).count() / 60;
  const double left = std::max(1.0, minutes - used_min - 1.0);
  const double pre_share = left * (args.on("full") ? 0.18 : 0.26), ft_share = left * 0.16;
  const std::vector<ModelPlan> plans = {{"tiny-transformer", 170}, {"tiny-conbimamba", 300}};
  Json report = Json::object();
  report["pretrain"] = Json::object();
  report["finetune"] = Json::object();
  report["mi"] = Json::object();
  std::ostringstream md;
  md << "# hubmamba demo report\n\nCorpus: `" << corpus << "` (synthetic speech, held-out test speakers). Budget "
     << minutes << " min.\n\n## Pretraining (HuBERT masked prediction)\n\n| model | iteration | updates | loss | masked acc |\n|---|---|---|---|---|\n";
  std::map<std::string, std::string> pretrained;
  for (const ModelPlan& p : plans) {
    PretrainConfig pc;
    pc.model = p.preset;
    pc.data = corpus;
    pc.labels = runs + "/labels1";
    pc.out = runs + "/" + p.preset + "_it1";
    pc.max_tokens = 200000;
    pc.max_updates = std::max<int64_t>(50, int64_t(pre_share * 60000 / p.ms_per_update));
    pc.warmup_updates = std::max<int64_t>(10, pc.max_updates / 12);
    pc.lr = 1e-3;
    pc.max_minutes = pre_share * 1.15;
    pc.log_interval = 25;
    pc.save_interval = 500;
    pc.seed = uint64_t(args.integer("seed"));
    std::cerr << "\n== pretraining " << p.preset << " (iteration 1, " << pc.max_updates << " updates, <= "
              << fmt(pc.max_minutes, 1) << " min)\n";
    PretrainResult r = run_pretraining(pc);
    std::string ckpt = r.last_checkpoint;
    md << "| " << p.preset << " | 1 | " << r.steps << " | " << fmt(r.final_loss) << " | " << fmt(r.masked_acc) << " |\n";
    Json pj = Json::object();
    pj["final_loss"] = r.final_loss;
    pj["masked_acc"] = r.masked_acc;
    pj["steps"] = r.steps;
    pj["audio_s_per_s"] = r.audio_seconds / std::max(r.seconds, 1e-9);
    if (args.on("full")) {
      // Iteration 2: features of the middle layer -> k-means -> 50 Hz labels -> pretrain again.
      const std::string layer = "2";
      run_command({"dump", "--ckpt", ckpt, "--layer", layer, "--manifest", corpus + "/train.tsv", "--out-dir",
                   pc.out + "/feats"});
      run_command({"kmeans", "--feat-dir", pc.out + "/feats", "--manifest", corpus + "/train.tsv", "--n-clusters",
                   args.str("clusters"), "--percent", "100", "--n-init", "3", "--seed", seed, "--out", pc.out + "/km2.npy"});
      run_command({"label", "--feat-dir", pc.out + "/feats", "--manifest", corpus + "/train.tsv", "--km",
                   pc.out + "/km2.npy", "--out", pc.out + "/labels2/train.km"});
      PretrainConfig pc2 = pc;
      pc2.labels = pc.out + "/labels2";
      pc2.label_rate = 50;
      pc2.out = runs + "/" + p.preset + "_it2";
      std::cerr << "\n== pretraining " << p.preset << " (iteration 2)\n";
      const PretrainResult r2 = run_pretraining(pc2);
      ckpt = r2.last_checkpoint;
      md << "| " << p.preset << " | 2 | " << r2.steps << " | " << fmt(r2.final_loss) << " | " << fmt(r2.masked_acc) << " |\n";
      pj["iteration2"] = Json::object({{"final_loss", Json(r2.final_loss)}, {"masked_acc", Json(r2.masked_acc)},
                                       {"steps", Json(r2.steps)}});
    }
    report["pretrain"][p.preset] = pj;
    pretrained[p.preset] = ckpt;
  }

  std::ostringstream examples;  // printed after the table so they do not split it
  md << "\n## CTC fine-tuning (greedy decoding, held-out test speakers and sentences)\n\n| model | updates | WER | CER |\n|---|---|---|---|\n";
  for (const ModelPlan& p : plans) {
    FinetuneConfig fc;
    fc.pretrained = pretrained[p.preset];
    fc.data = corpus;
    fc.out = runs + "/" + p.preset + "_ctc";
    fc.max_tokens = 200000;
    fc.max_updates = std::max<int64_t>(50, int64_t(ft_share * 60000 / (p.ms_per_update * 0.8)));
    fc.freeze_updates = fc.max_updates / 5;
    fc.lr = 1e-3;
    fc.max_minutes = ft_share * 1.15;
    fc.log_interval = 25;
    fc.save_interval = 1000;
    fc.seed = uint64_t(args.integer("seed"));
    std::cerr << "\n== fine-tuning " << p.preset << " with CTC (" << fc.max_updates << " updates)\n";
    const FinetuneResult r = run_finetuning(fc);
    const EvalResult test = evaluate_ctc(r.last_checkpoint, corpus, "test", 1);
    md << "| " << p.preset << " | " << r.steps << " | " << fmt(100 * test.wer(), 1) << " % | " << fmt(100 * test.cer(), 1)
       << " % |\n";
    report["finetune"][p.preset] = Json::object({{"wer", Json(test.wer())}, {"cer", Json(test.cer())},
                                                 {"valid_wer", Json(r.valid.wer())}, {"steps", Json(r.steps)}});
    if (!test.hyps.empty())
      examples << "\nExample (" << p.preset << "): REF `" << test.refs[0] << "` HYP `" << test.hyps[0] << "`\n";
  }
  md << examples.str();

  // Per-layer mutual information I(X; T_i) (SPEC.md 8) of each pretrained encoder on held-out test utterances.
  md << "\n## Per-layer mutual information I(X; T_i) (MINE, nats; X = input of layer 1)\n\n| model | per layer | shape |\n|---|---|---|\n";
  std::vector<MiCurve> curves;
  for (const ModelPlan& p : plans) {
    MiAnalysisOptions mo;
    mo.ckpt = pretrained[p.preset];
    mo.manifest = corpus + "/test.tsv";
    mo.utterances = args.integer("mi-utterances");
    mo.seed = uint64_t(args.integer("seed"));
    mo.progress = true;
    std::cerr << "\n== MI analysis of " << p.preset << " (" << mo.utterances << " test utterances)\n";
    MiCurve c = analyze_model(mo);
    c.label = p.preset;
    Json layers = Json::array();
    std::string cells;
    for (double v : c.mean) {
      layers.push_back(Json(v));
      cells += (cells.empty() ? "" : ", ") + fmt(v, 2);
    }
    report["mi"][p.preset] = layers;
    md << "| " << p.preset << " | " << cells << " | " << curve_shape_name(c.shape) << " |\n";
    curves.push_back(c);
  }
  write_curve_plot(out + "/mi.png", curves);

  const double total = std::chrono::duration<double>(clock::now() - t0).count();
  report["seconds"] = total;
  md << "\nTotal time: " << fmt(total / 60, 1) << " min. Plots: `runs/*/curves.png`, `mi.png`.\n";
  write_file_atomic(out + "/report.json", report.dump(2) + "\n");
  write_file_atomic(out + "/report.md", md.str());
  std::cout << md.str();
  std::cerr << "\ndemo: report in " << out << "/report.md and report.json\n";
  return 0;
}

const CommandRegistrar reg("demo", "the end-to-end demo (synth -> pretrain -> fine-tune -> WER -> MI), no arguments needed",
                           run_demo);

}  // namespace
}  // namespace hm::cli
