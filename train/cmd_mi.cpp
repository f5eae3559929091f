// `hubmamba mi`: mutual information by MINE (SPEC.md 8) in three modes:
//   hubmamba mi --x X.npy --y Y.npy --out R.json [--seed S]            one pair of (T, D) arrays -> {"mi_nats": ...}
//   hubmamba mi --ckpt W [--config C] --manifest M --utterances N --out DIR
//                                                                        I(X; T_i) per layer -> DIR/mi.json, mi.png
//   hubmamba mi --compare a.json,b.json --plot out.png [--labels A,B]   several models' curves in one plot
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "engine/npy.h"
#include "train/atomic_file.h"
#include "train/cli.h"
#include "train/mi_analysis.h"

namespace hm::cli {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

MineConfig mine_config(const Args& args) {
  MineConfig mc;
  mc.epochs = args.integer("epochs");
  mc.batch_size = args.integer("batch-size");
  mc.lr = args.real("lr");
  mc.hidden = args.integer("hidden");
  mc.seed = uint64_t(args.integer("seed"));
  mc.drop_last = !args.on("keep-last-batch");
  check(mc.epochs >= 0, "mi: --epochs must be >= 0, got ", mc.epochs);
  check(mc.batch_size >= 2, "mi: --batch-size must be >= 2, got ", mc.batch_size);
  check(mc.hidden >= 1, "mi: --hidden must be >= 1, got ", mc.hidden);
  check(mc.lr > 0, "mi: --lr must be > 0, got ", mc.lr);
  return mc;
}

int run_pair(const Args& args) {
  const std::string xp = args.str("x"), yp = args.str("y");
  const Tensor x = load_npy(xp), y = load_npy(yp);
  check_mi_inputs(x, y, xp, yp);
  MineEstimator est(x.size(1), y.size(1), mine_config(args));
  const auto t0 = std::chrono::steady_clock::now();
  const double mi = est.estimate(x, y);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Json out = Json::object();
  out["mi_nats"] = mi;
  out["x"] = xp;
  out["y"] = yp;
  out["frames"] = x.size(0);
  out["dx"] = x.size(1);
  out["dy"] = y.size(1);
  out["epochs"] = args.integer("epochs");
  out["adam_steps"] = est.last_steps();
  out["seed"] = args.integer("seed");
  out["seconds"] = secs;
  Json curve = Json::array();
  for (double v : est.last_curve()) curve.push_back(Json(v));
  out["epoch_bounds"] = curve;
  write_file_atomic(args.str("out"), out.dump(2) + "\n");
  std::printf("mi: %.6f nats (%lld frames, %.2f s) -> %s\n", mi, (long long)x.size(0), secs, args.str("out").c_str());
  return 0;
}

void print_curve(const MiCurve& c) {
  std::printf("%s: %s (tolerance %.3f nats, minimum at layer %lld)\n", c.label.c_str(), curve_shape_name(c.shape),
              c.shape_tol, (long long)c.min_layer);
  for (size_t l = 0; l < c.layers.size(); ++l)
    std::printf("  layer %2lld  I(X; T) = %8.4f +- %.4f nats\n", (long long)c.layers[l], c.mean[l], c.stddev[l]);
}

int run_model(const Args& args) {
  MiAnalysisOptions opt;
  opt.ckpt = args.str("ckpt");
  opt.config = args.str("config");
  opt.manifest = args.str("manifest");
  opt.utterances = args.integer("utterances");
  opt.seed = uint64_t(args.integer("seed"));
  opt.device = args.str("device");
  opt.mine = mine_config(args);
  opt.warm_start = args.on("warm-start");
  opt.keep_padding = args.on("keep-padding");
  opt.pad_batch = args.integer("pad-batch");
  opt.workers = int(args.integer("workers"));
  opt.shape_tol = args.real("shape-tol");
  opt.progress = true;
  check(!opt.ckpt.empty() || !opt.config.empty(), "mi: give --ckpt (and/or --config) with --manifest");
  MiCurve c = analyze_model(opt);
  if (!args.str("label").empty()) c.label = args.str("label");
  const std::string dir = args.str("out");
  fs::create_directories(dir);
  write_file_atomic(dir + "/mi.json", curve_to_json(c, opt).dump(2) + "\n");
  write_curve_plot(dir + "/mi.png", {c});
  print_curve(c);
  std::printf("mi: %lld utterances x %zu layers in %.1f s (%.3f s per MINE call) -> %s/mi.json, mi.png\n",
              (long long)c.utterances.size(), c.layers.size(), c.seconds,
              c.mine_calls ? c.mine_seconds / double(c.mine_calls) : 0.0, dir.c_str());
  return 0;
}

int run_compare(const Args& args) {
  const std::vector<std::string> files = split_commas(args.str("compare"));
  const std::vector<std::string> labels = split_commas(args.str("labels"));
  check(!files.empty(), "mi: --compare needs one or more JSON files (a.json,b.json)");
  check(labels.empty() || labels.size() == files.size(), "mi: --labels has ", labels.size(), " names for ",
        files.size(), " files");
  check(!args.str("plot").empty(), "mi: --compare needs --plot out.png");
  std::vector<MiCurve> curves;
  for (size_t i = 0; i < files.size(); ++i) {
    curves.push_back(curve_from_json(Json::parse_file(files[i]), files[i]));
    if (!labels.empty()) curves.back().label = labels[i];
    print_curve(curves.back());
  }
  write_curve_plot(args.str("plot"), curves);
  std::printf("mi: %zu curves -> %s\n", curves.size(), args.str("plot").c_str());
  return 0;
}

int run_mi(int argc, char** argv) {
  Args args("mi",
            "Mutual information by MINE (SPEC.md 8: statistics network 2D-100-100-1, biased DV bound, 100 epochs of\n"
            "minibatches of 128, Adam 1e-4, final estimate on all frames). Three modes:\n"
            "  --x X.npy --y Y.npy --out R.json                 one pair of (T, D) arrays; R.json has mi_nats\n"
            "  --ckpt W [--config C] --manifest M --out DIR     I(X; T_i) for every layer, averaged over\n"
            "                                                   --utterances random utterances: DIR/mi.json, mi.png\n"
            "  --compare a.json,b.json --plot out.png           several models' curves in one plot");
  args.option("x", "", "pair mode: X (T, Dx) .npy")
      .option("y", "", "pair mode: Y (T, Dy) .npy")
      .option("ckpt", "", "model mode: checkpoint or weights .safetensors")
      .option("config", "", "model mode: model preset or JSON (default: the checkpoint's own)")
      .option("manifest", "", "model mode: fairseq .tsv")
      .option("utterances", "100", "model mode: random utterances to average over (paper: 1000)")
      .option("out", "", "pair mode: result .json; model mode: output directory")
      .option("label", "", "model mode: legend name (default: the model config's name)")
      .option("compare", "", "comma-separated mi.json files to plot together")
      .option("labels", "", "compare mode: comma-separated legend names")
      .option("plot", "", "compare mode: output .png or .svg")
      .option("seed", "1", "random seed (utterance choice, network init, shuffles)")
      .option("device", "cpu", "model mode: where the encoder runs (cpu or cuda); MINE runs on the host")
      .option("epochs", "100", "MINE epochs")
      .option("batch-size", "128", "MINE minibatch frames")
      .option("lr", "1e-4", "Adam learning rate")
      .option("hidden", "100", "statistics network width")
      .flag("keep-last-batch", "also train on the final partial minibatch (the original drops it)")
      .flag("warm-start", "the original's quirk: keep the statistics network across calls (runs sequentially)")
      .flag("keep-padding", "the original's quirk: batches of --pad-batch zero-padded utterances, padded frames kept")
      .option("pad-batch", "25", "utterances per padded batch with --keep-padding")
      .option("workers", "0", "utterances processed at once (0: --threads; 1: one at a time, threaded kernels)")
      .option("shape-tol", "0.02", "nats; curve-shape tolerance floor (at least 2 standard errors)");
  if (!args.parse(argc, argv)) return 0;
  const bool pair = args.given("x") || args.given("y"), compare = args.given("compare"),
             model = args.given("ckpt") || args.given("manifest");
  check(int(pair) + int(compare) + int(model) == 1,
        "mi: choose one mode: --x/--y (one pair), --ckpt/--manifest (a model) or --compare (plot)");
  if (compare) return run_compare(args);
  check(!args.str("out").empty(), "mi: --out is required");
  if (pair) {
    check(!args.str("x").empty() && !args.str("y").empty(), "mi: pair mode needs both --x and --y");
    return run_pair(args);
  }
  check(!args.str("manifest").empty(), "mi: model mode needs --manifest");
  return run_model(args);
}

const CommandRegistrar reg("mi", "mutual information I(X; T_i) per layer by MINE, or of one pair of arrays", run_mi);

}  // namespace
}  // namespace hm::cli
