// `hubmamba experiment paper`: the paper's comparisons (SPEC.md 1) at tiny scale on the synthetic corpus.
//   corpus -> MFCC -> k-means labels -> HuBERT pretraining of tiny-extbimamba (Mamba-HuBERT) and tiny-transformer
//   -> five recognisers, each scored on the held-out test split:
//        mamba_hubert_ctc          Mamba-HuBERT fine-tuned with a linear CTC head (alone)
//        mamba_hubert_conformer    frozen Mamba-HuBERT + Conformer downstream + CTC
//        hubert_conformer          frozen transformer HuBERT + Conformer downstream + CTC
//        conbimamba_asr            ConBiMamba ASR on fbank from scratch, CTC only
//        conbimamba_asr_decoder    the same + Transformer attention decoder (hybrid loss, joint decoding)
//   -> per-layer MI curve of each (one plot), classified monotonic-decrease / decrease-then-increase
//   -> OUT/report.md, OUT/report.json.
// Every stage writes OUT/results/<stage>.json when it finishes and is skipped when that file exists; an interrupted
// training run continues from its last checkpoint. Nothing finished is ever overwritten.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "engine/json.h"
#include "train/asr_train.h"
#include "train/atomic_file.h"
#include "train/checkpoint.h"
#include "train/cli.h"
#include "train/finetune.h"
#include "train/layer_mi.h"
#include "train/pretrain.h"

namespace hm::cli {
namespace {
namespace fs = std::filesystem;

void run_subcommand(const std::vector<std::string>& words) {
  std::vector<std::string> storage = words;
  std::vector<char*> argv;
  for (auto& w : storage) argv.push_back(w.data());
  std::cerr << "\n$ hubmamba";
  for (const auto& w : words) std::cerr << " " << w;
  std::cerr << "\n";
  auto it = commands().find(words[0]);
  check(it != commands().end(), "experiment: internal error, no command ", words[0]);
  check(it->second.run(int(argv.size()), argv.data()) == 0, "experiment: `hubmamba ", words[0], "` failed");
}

std::string fmt(double v, int digits = 3) {
  std::ostringstream os;
  os.precision(digits);
  os << std::fixed << v;
  return os.str();
}

struct Stages {
  std::string dir;
  bool done(const std::string& name) const { return fs::exists(path(name)); }
  std::string path(const std::string& name) const { return dir + "/" + name + ".json"; }
  Json load(const std::string& name) const { return Json::parse_file(path(name)); }
  void save(const std::string& name, const Json& j) const { write_file_atomic(path(name), j.dump(2) + "\n"); }
};

Json score_json(const EvalResult& r) {
  Json j = Json::object();
  j["wer"] = r.wer();
  j["cer"] = r.cer();
  j["words"] = r.score.words.to_json();
  j["letters"] = r.score.letters.to_json();
  if (!r.hyps.empty()) j["example"] = Json::object({{"ref", Json(r.refs[0])}, {"hyp", Json(r.hyps[0])}});
  return j;
}

struct Recogniser {
  std::string key, label, kind;  // kind: ctc (train/finetune) | asr (train/asr_train)
  std::string upstream;          // "mamba" | "transformer" | "" (fbank)
  int64_t decoder_layers = 0;
  double ms_per_update;          // rough 2-core cost, sizes the update count for the budget
};

int run_experiment(int argc, char** argv) {
  Args args("experiment",
            "hubmamba experiment paper: the paper's comparisons at tiny scale on the synthetic corpus --\n"
            "Mamba-HuBERT (extbimamba) alone vs + Conformer downstream, transformer HuBERT + Conformer, ConBiMamba ASR\n"
            "with vs without an attention decoder -> WER table, per-layer MI curves and their shapes in OUT/report.md.\n"
            "Stages are resumable (OUT/results/*.json mark finished ones); rerun the same command to continue.");
  args.option("out", "experiment_out", "output directory")
      .option("corpus", "", "existing corpus directory (default: OUT/corpus, synthesized when missing)")
      .option("hours", "0.5", "hours of synthetic audio when synthesizing")
      .option("minutes", "30", "time budget in minutes; stage budgets scale with it")
      .option("clusters", "100", "k-means clusters (iteration-1 MFCC targets)")
      .option("asr-layers", "4", "ConBiMamba ASR encoder layers (paper: 12)")
      .option("downstream-layers", "2", "Conformer downstream layers")
      .option("decoder-layers", "2", "attention decoder layers (paper: 6)")
      .option("d-model", "144", "width of the downstream / ASR encoders")
      .option("upstream-layers", "weighted", "upstream features for the Conformer downstreams: last | weighted")
      .option("beam", "4", "beam of the joint CTC/attention decoding")
      .option("mi-utterances", "16", "test utterances in the MI analysis (paper: 1000)")
      .option("mi-epochs", "100", "MINE epochs per estimate")
      .option("seed", "1", "random seed");
  if (!args.parse(argc, argv)) return 0;
  const std::vector<std::string>& pos = args.positional();
  check(pos.size() == 1 && pos[0] == "paper", "experiment: usage `hubmamba experiment paper [options]` (the only ",
        "experiment is `paper`)");
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const std::string out = args.str("out"), runs = out + "/runs", seed = args.str("seed");
  const std::string corpus = args.str("corpus").empty() ? out + "/corpus" : args.str("corpus");
  const double minutes = args.real("minutes");
  check(minutes >= 3, "experiment: --minutes must be at least 3, got ", minutes);
  const Stages st{out + "/results"};
  fs::create_directories(st.dir);
  fs::create_directories(runs);
  std::cerr << "experiment paper: out " << out << ", budget " << minutes << " min"
            << (fs::exists(st.dir) ? " (finished stages in " + st.dir + " are kept)" : "") << "\n";

  // 1. Corpus and iteration-1 targets.
  if (!fs::exists(corpus + "/train.tsv")) {
    check(args.str("corpus").empty(), corpus, "/train.tsv: no corpus there");
    run_subcommand({"synth", "--out-dir", corpus, "--hours", args.str("hours"), "--seed", seed, "--engines",
                    "espeak-ng,flite", "--test-fraction", "0.1"});
  }
  if (!st.done("labels")) {
    run_subcommand({"mfcc", "--manifest", corpus + "/train.tsv", "--out-dir", runs + "/mfcc", "--quiet"});
    run_subcommand({"kmeans", "--feat-dir", runs + "/mfcc", "--manifest", corpus + "/train.tsv", "--n-clusters",
                    args.str("clusters"), "--percent", "100", "--n-init", "3", "--seed", seed, "--out", runs + "/km1.npy"});
    run_subcommand({"label", "--feat-dir", runs + "/mfcc", "--manifest", corpus + "/train.tsv", "--km",
                    runs + "/km1.npy", "--out", runs + "/labels1/train.km", "--report", runs + "/labels1/quality.json"});
    st.save("labels", Json::object({{"labels", Json(runs + "/labels1")}}));
  }

  // Budget: ~2 min fixed; 2 pretrainings x 20 %, 5 recognisers x 9 %, MI and decoding the rest.
  const double pre_min = 0.2 * minutes, rec_min = 0.09 * minutes;
  const auto elapsed_min = [&] { return std::chrono::duration<double>(clock::now() - t0).count() / 60; };

  // 2. HuBERT pretraining (iteration 1) of the two upstreams.
  std::map<std::string, std::string> upstream_ckpt;
  for (const auto& [key, preset, ms] : {std::tuple{std::string("mamba"), std::string("tiny-extbimamba"), 260.0},
                                        std::tuple{std::string("transformer"), std::string("tiny-transformer"), 170.0}}) {
    const std::string stage = "pretrain_" + key;
    if (!st.done(stage)) {
      PretrainConfig pc;
      pc.model = preset;
      pc.data = corpus;
      pc.labels = runs + "/labels1";
      pc.out = runs + "/" + stage;
      pc.max_tokens = 200000;
      pc.max_updates = std::max<int64_t>(50, int64_t(pre_min * 60000 / ms));
      pc.warmup_updates = std::max<int64_t>(10, pc.max_updates / 12);
      pc.lr = 1e-3;
      pc.max_minutes = pre_min * 1.1;
      pc.log_interval = 25;
      pc.save_interval = 100;
      pc.seed = uint64_t(args.integer("seed"));
      pc.resume = fs::exists(checkpoint_path(pc.out, "last"));
      std::cerr << "\n== [" << fmt(elapsed_min(), 1) << " min] pretraining " << preset << " (" << pc.max_updates
                << " updates, <= " << fmt(pc.max_minutes, 1) << " min)" << (pc.resume ? ", resuming" : "") << "\n";
      const PretrainResult r = run_pretraining(pc);
      st.save(stage, Json::object({{"model", Json(preset)}, {"steps", Json(r.steps)}, {"loss", Json(r.final_loss)},
                                   {"masked_acc", Json(r.masked_acc)}, {"checkpoint", Json(r.last_checkpoint)},
                                   {"seconds", Json(r.seconds)}}));
    }
    upstream_ckpt[key] = st.load(stage).at("checkpoint").as_string();
  }

  // 3. The recognisers.
  const int64_t dl = args.integer("decoder-layers");
  const std::vector<Recogniser> recs = {
      {"mamba_hubert_ctc", "Mamba-HuBERT (extbimamba) + linear CTC (fine-tuned)", "ctc", "mamba", 0, 200},
      {"mamba_hubert_conformer", "Mamba-HuBERT (frozen) + Conformer + CTC", "asr", "mamba", 0, 70},
      {"hubert_conformer", "HuBERT transformer (frozen) + Conformer + CTC", "asr", "transformer", 0, 70},
      {"conbimamba_asr", "ConBiMamba ASR (fbank, from scratch), CTC", "asr", "", 0, 110},
      {"conbimamba_asr_decoder", "ConBiMamba ASR (fbank, from scratch), CTC + attention decoder", "asr", "", dl, 130}};
  std::map<std::string, std::string> rec_ckpt;
  for (const Recogniser& rc : recs) {
    const std::string stage = "train_" + rc.key, dir = runs + "/" + rc.key;
    if (!st.done(stage)) {
      const bool resume = fs::exists(checkpoint_path(dir, "last"));
      const int64_t updates = std::max<int64_t>(50, int64_t(rec_min * 60000 / rc.ms_per_update));
      std::cerr << "\n== [" << fmt(elapsed_min(), 1) << " min] " << rc.label << " (" << updates << " updates, <= "
                << fmt(rec_min * 1.1, 1) << " min)" << (resume ? ", resuming" : "") << "\n";
      Json j = Json::object();
      EvalResult test;
      std::string ckpt, decoding;
      if (rc.kind == "ctc") {
        FinetuneConfig fc;
        fc.pretrained = upstream_ckpt.at(rc.upstream);
        fc.data = corpus;
        fc.out = dir;
        fc.max_tokens = 200000;
        fc.max_updates = updates;
        fc.freeze_updates = updates / 5;
        fc.lr = 1e-3;
        fc.max_minutes = rec_min * 1.1;
        fc.log_interval = 25;
        fc.save_interval = 100;
        fc.seed = uint64_t(args.integer("seed"));
        fc.resume = resume;
        const FinetuneResult r = run_finetuning(fc);
        ckpt = r.last_checkpoint;
        test = evaluate_ctc(ckpt, corpus, "test", 1);
        decoding = "CTC greedy";
        j["steps"] = r.steps;
        j["valid"] = score_json(r.valid);
      } else {
        AsrTrainConfig ac;
        ac.pretrained = rc.upstream.empty() ? "" : upstream_ckpt.at(rc.upstream);
        ac.upstream_layers = args.str("upstream-layers");
        ac.downstream = rc.upstream.empty() ? "conbimamba" : "conformer";
        ac.data = corpus;
        ac.out = dir;
        ac.layers = rc.upstream.empty() ? args.integer("asr-layers") : args.integer("downstream-layers");
        ac.d_model = args.integer("d-model");
        ac.ffn_dim = 4 * ac.d_model;
        ac.decoder_ffn = 4 * ac.d_model;
        ac.decoder_layers = rc.decoder_layers;
        ac.max_updates = updates;
        ac.warmup_updates = updates / 10;
        ac.lr = 1e-3;
        ac.max_minutes = rec_min * 1.1;
        ac.log_interval = 25;
        ac.save_interval = 100;
        ac.beam = args.integer("beam");
        ac.seed = uint64_t(args.integer("seed"));
        ac.resume = resume;
        const FinetuneResult r = run_asr_training(ac);
        ckpt = r.last_checkpoint;
        const AsrDecodeConfig dc{"auto", ac.beam, 0.3, true};
        test = evaluate_asr(ckpt, corpus, "test", dc);
        decoding = rc.decoder_layers > 0 ? "joint CTC/attention beam " + std::to_string(ac.beam) + " (CTC weight 0.3)"
                                         : "CTC greedy";
        if (rc.decoder_layers > 0) {
          // The same model decoded by its CTC head alone, and by its decoder alone (greedy).
          j["test_ctc_only"] = score_json(evaluate_asr(ckpt, corpus, "test", AsrDecodeConfig{"ctc", 1, 0.3, true}));
          j["test_attention_only"] =
              score_json(evaluate_asr(ckpt, corpus, "test", AsrDecodeConfig{"attention", 1, 0.3, true}));
        }
        j["steps"] = r.steps;
        j["valid"] = score_json(r.valid);
      }
      j["label"] = rc.label;
      j["checkpoint"] = ckpt;
      j["decoding"] = decoding;
      j["test"] = score_json(test);
      st.save(stage, j);
      std::cerr << "== " << rc.key << ": test " << test.score.words.summary("WER") << ", "
                << test.score.letters.summary("CER") << "\n";
    }
    rec_ckpt[rc.key] = st.load(stage).at("checkpoint").as_string();
  }

  // 4. Per-layer MI of every recogniser on held-out test utterances.
  std::vector<MiCurve> curves;
  for (const Recogniser& rc : recs) {
    const std::string stage = "mi_" + rc.key;
    if (!st.done(stage)) {
      std::cerr << "\n== [" << fmt(elapsed_min(), 1) << " min] MI of " << rc.key << "\n";
      LayerMiOptions mo;
      mo.manifest = corpus + "/test.tsv";
      mo.utterances = args.integer("mi-utterances");
      mo.seed = uint64_t(args.integer("seed"));
      mo.mine.epochs = args.integer("mi-epochs");
      mo.progress = true;
      const MiCurve c = layer_mi_curve(hidden_states_of_checkpoint(rec_ckpt[rc.key]), rc.key, mo);
      MiAnalysisOptions info;
      info.ckpt = rec_ckpt[rc.key];
      info.manifest = mo.manifest;
      info.seed = mo.seed;
      info.mine = mo.mine;
      st.save(stage, curve_to_json(c, info));
    }
    curves.push_back(curve_from_json(st.load(stage), st.path(stage)));
    curves.back().label = rc.key;
  }
  write_curve_plot(out + "/mi.png", curves);

  // 5. Report.
  Json report = Json::object();
  std::ostringstream md;
  md << "# hubmamba experiment paper\n\nCorpus `" << corpus << "` (synthetic speech; test = held-out speakers and "
     << "sentences). Budget " << minutes << " min. Stage results: `results/*.json`.\n\n"
     << "## Pretraining (HuBERT iteration 1, MFCC k-means targets)\n\n| upstream | updates | loss | masked acc |\n|---|---:|---:|---:|\n";
  for (const char* key : {"mamba", "transformer"}) {
    const Json p = st.load(std::string("pretrain_") + key);
    report["pretrain"][key] = p;
    md << "| " << p.at("model").as_string() << " | " << p.at("steps").as_int() << " | " << fmt(p.at("loss").as_number())
       << " | " << fmt(p.at("masked_acc").as_number()) << " |\n";
  }
  md << "\n## Test WER / CER\n\n| model | updates | decoding | test WER | test CER | valid WER |\n|---|---:|---|---:|---:|---:|\n";
  auto pct = [](const Json& s, const char* k) { return fmt(100 * s.at(k).as_number(), 1) + " %"; };
  for (const Recogniser& rc : recs) {
    const Json r = st.load("train_" + rc.key);
    report["recognisers"][rc.key] = r;
    md << "| " << rc.label << " | " << r.at("steps").as_int() << " | " << r.at("decoding").as_string() << " | "
       << pct(r.at("test"), "wer") << " | " << pct(r.at("test"), "cer") << " | " << pct(r.at("valid"), "wer") << " |\n";
    if (r.contains("test_ctc_only"))
      md << "| ... same model, CTC head only | | CTC greedy | " << pct(r.at("test_ctc_only"), "wer") << " | "
         << pct(r.at("test_ctc_only"), "cer") << " | |\n| ... same model, decoder only | | attention greedy | "
         << pct(r.at("test_attention_only"), "wer") << " | " << pct(r.at("test_attention_only"), "cer") << " | |\n";
  }
  md << "\n## Per-layer MI I(X; T_i) (MINE, nats, " << args.integer("mi-utterances") << " test utterances)\n\n"
     << "| model | per layer | shape | min at layer |\n|---|---|---|---:|\n";
  for (const MiCurve& c : curves) {
    std::string cells;
    Json layers = Json::array();
    for (double v : c.mean) cells += (cells.empty() ? "" : ", ") + fmt(v, 2), layers.push_back(Json(v));
    md << "| " << c.label << " | " << cells << " | " << curve_shape_name(c.shape) << " (tol " << fmt(c.shape_tol, 3)
       << ") | " << c.min_layer << " |\n";
    report["mi"][c.label] = Json::object({{"mean", layers}, {"shape", Json(curve_shape_name(c.shape))},
                                          {"shape_tol", Json(c.shape_tol)}, {"min_layer", Json(c.min_layer)}});
  }
  md << "\nDownstream models' curves run over the upstream's layers, then the downstream's (X = the upstream's input "
        "of layer 1). Plot: `mi.png`.\n";
  const double total = std::chrono::duration<double>(clock::now() - t0).count();
  report["seconds_this_invocation"] = total;
  md << "\nThis invocation: " << fmt(total / 60, 1) << " min.\n";
  write_file_atomic(out + "/report.json", report.dump(2) + "\n");
  write_file_atomic(out + "/report.md", md.str());
  std::cout << md.str();
  return 0;
}

const CommandRegistrar reg("experiment",
                           "experiment paper: Mamba-HuBERT +/- Conformer, HuBERT + Conformer, ConBiMamba ASR +/- decoder "
                           "-> WER table + per-layer MI curves",
                           run_experiment);

}  // namespace
}  // namespace hm::cli
