// `hubmamba kmeans` and `hubmamba label`: fairseq's learn_kmeans.py and dump_km_label.py.
//   hubmamba kmeans --feat-dir D --manifest train.tsv --n-clusters 100 --percent 10 --out km.npy
//   hubmamba label  --feat-dir D --manifest train.tsv --km km.npy --out train.km [--report R.json --ref ref.km]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "engine/npy.h"
#include "train/cli.h"
#include "train/feature_store.h"
#include "train/kmeans.h"
#include "train/label_quality.h"
#include "train/manifest.h"

namespace hm::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Both commands need at least one utterance: an empty manifest is a mistake, not an empty result.
Manifest read_utterances(const std::string& tsv) {
  Manifest m = read_manifest(tsv);
  check(!m.entries.empty(), tsv, ": manifest lists no utterances");
  return m;
}

int run_kmeans(int argc, char** argv) {
  Args args("kmeans",
            "Fit mini-batch k-means (sklearn MiniBatchKMeans semantics, fairseq learn_kmeans.py defaults) on the "
            "features of a random subset of utterances; writes the centroids as float32 .npy (k, D).");
  args.required("feat-dir", "directory written by `hubmamba mfcc --manifest` (or layer features)")
      .required("manifest", "fairseq .tsv listing the utterances")
      .required("out", "output centroids .npy")
      .option("n-clusters", "100", "k")
      .option("percent", "10", "percent of utterances (chosen at random) to fit on; 100 = all")
      .option("batch-size", "10000", "mini-batch size")
      .option("max-iter", "100", "passes over the data (steps = max_iter * frames / batch_size)")
      .option("n-init", "20", "k-means++ initialisations; the best on a validation draw is kept")
      .option("init-size", "-1", "rows per initialisation (-1: 3 * batch_size)")
      .option("max-no-improvement", "100", "stop after this many steps without ewa-inertia improvement (0: off)")
      .option("tol", "0", "stop when the centres move less than tol * mean feature variance (0: off)")
      .option("reassignment-ratio", "0", "re-seed centres with counts below this fraction of the largest")
      .option("algorithm", "minibatch", "minibatch | lloyd (full-batch Lloyd from one k-means++ init)")
      .option("seed", "0", "random seed (utterance subset, inits, mini-batches)")
      .flag("verbose", "progress per init and every 100 steps");
  if (!args.parse(argc, argv)) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string tsv = args.str("manifest");
  const Manifest m = read_utterances(tsv);
  const size_t U = m.entries.size();
  const double percent = args.real("percent");
  check(percent > 0 && percent <= 100, "hubmamba kmeans: --percent must be in (0, 100], got ", percent);
  // learn_kmeans.py load_feature_shard: nsample = ceil(U * fraction) utterances without replacement.
  const size_t take = std::min(U, size_t(std::ceil(double(U) * percent / 100.0)));
  std::vector<size_t> which(U);
  std::iota(which.begin(), which.end(), size_t(0));
  Generator gen(uint64_t(args.integer("seed")) ^ 0x6b6d65616e73ull);  // subset stream, separate from the fit's
  for (size_t i = 0; i < take; ++i) std::swap(which[i], which[i + size_t(gen.next_below(U - i))]);
  which.resize(take);
  std::sort(which.begin(), which.end());
  const Tensor x = feat::load_features(args.str("feat-dir"), tsv, m, which, nullptr);
  std::cerr << "kmeans: " << take << "/" << U << " utterances, " << x.size(0) << " frames of dim " << x.size(1)
            << " (loaded in " << seconds_since(t0) << " s)\n";

  feat::MiniBatchKMeansOptions opt;
  opt.n_clusters = args.integer("n-clusters");
  opt.batch_size = args.integer("batch-size");
  opt.max_iter = args.integer("max-iter");
  opt.n_init = args.integer("n-init");
  opt.init_size = args.integer("init-size");
  opt.max_no_improvement = args.integer("max-no-improvement");
  opt.tol = args.real("tol");
  opt.reassignment_ratio = args.real("reassignment-ratio");
  opt.seed = uint64_t(args.integer("seed"));
  opt.verbose = args.on("verbose");
  const std::string algo = args.str("algorithm");
  check(algo == "minibatch" || algo == "lloyd", "hubmamba kmeans: --algorithm must be minibatch or lloyd, got '", algo,
        "'");
  check(opt.n_clusters >= 1 && opt.n_clusters <= x.size(0), "hubmamba kmeans: --n-clusters ", opt.n_clusters,
        " must be in [1, ", x.size(0), "] (the number of frames loaded)");
  const auto t1 = std::chrono::steady_clock::now();
  feat::KMeansResult r;
  if (algo == "minibatch") {
    r = feat::fit_minibatch_kmeans(x, opt);
  } else {
    Generator g(opt.seed);
    r = feat::fit_lloyd_kmeans(x, feat::kmeans_plusplus(x, opt.n_clusters, g), opt.max_iter);
  }
  save_npy(args.str("out"), r.centers);
  std::printf("kmeans: k=%lld on %lld frames: %lld steps (%lld passes)%s in %.2f s; inertia %.6g per frame -> %s\n",
              (long long)opt.n_clusters, (long long)x.size(0), (long long)r.n_steps, (long long)r.n_iter,
              r.converged_early ? ", converged" : "", seconds_since(t1), r.inertia / double(x.size(0)),
              args.str("out").c_str());
  return 0;
}

int run_label(int argc, char** argv) {
  Args args("label",
            "Label every frame with its nearest centroid (fairseq dump_km_label.py): one line of space-separated "
            "cluster ids per utterance, in manifest order. Optionally report label quality.");
  args.required("feat-dir", "feature directory (as for kmeans)")
      .required("manifest", "fairseq .tsv listing the utterances")
      .required("km", "centroids .npy (k, D) from `hubmamba kmeans`")
      .required("out", "output .km")
      .option("report", "", "write label-quality JSON here (usage histogram, perplexity, inertia, PNMI/purity)")
      .option("ref", "", "frame-level reference labels (.km-like ints, one line per utterance) for PNMI/purity")
      .option("ref-tolerance", "2", "allowed per-utterance length difference to --ref (frames; longer is trimmed)")
      .flag("quiet", "no progress line");
  if (!args.parse(argc, argv)) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string tsv = args.str("manifest");
  const Manifest m = read_utterances(tsv);
  const size_t U = m.entries.size();
  const std::string km_path = args.str("km");
  check(std::filesystem::exists(km_path), km_path, ": centroids file not found (run `hubmamba kmeans` first)");
  const Tensor centers = feat::load_utterance_features(km_path, -1);  // (k, D), finite
  const int64_t k = centers.size(0), d = centers.size(1);
  std::vector<std::vector<int32_t>> labels(U);
  double sq_sum = 0;
  int64_t frames = 0;
  std::vector<float> dist;
  auto last = t0;
  for (size_t i = 0; i < U; ++i) {
    const Tensor f = feat::load_utterance_features(feat::feature_path(args.str("feat-dir"), m.entries[i].path), d);
    labels[i] = feat::assign_labels(f, centers, &dist);
    for (float v : dist) sq_sum += v;
    frames += f.size(0);
    if (!args.on("quiet") && (seconds_since(last) > 1.0 || i + 1 == U)) {
      last = std::chrono::steady_clock::now();
      std::fprintf(stderr, "\rlabel: %zu/%zu utterances, %lld frames, %.0f frames/s   %s", i + 1, U, (long long)frames,
                   double(frames) / std::max(seconds_since(t0), 1e-9), i + 1 == U ? "\n" : "");
    }
  }
  write_km(args.str("out"), labels);
  std::printf("label: %zu utterances, %lld frames, k=%lld, inertia %.6g per frame -> %s\n", U, (long long)frames,
              (long long)k, sq_sum / double(frames), args.str("out").c_str());
  if (args.given("report") || args.given("ref")) {
    std::vector<std::vector<int32_t>> ref;
    if (args.given("ref")) ref = read_km(args.str("ref"));
    feat::LabelQuality q =
        feat::label_quality(labels, k, args.given("ref") ? &ref : nullptr, args.integer("ref-tolerance"));
    q.inertia_per_frame = sq_sum / double(frames);
    std::printf("label quality: %lld/%lld clusters used, usage perplexity %.2f", (long long)q.used_clusters,
                (long long)k, q.usage_perplexity);
    if (q.has_reference)
      std::printf(", PNMI %.4f, phone purity %.4f, cluster purity %.4f (%lld reference classes)", q.pnmi,
                  q.phone_purity, q.cluster_purity, (long long)q.reference_classes);
    std::printf("\n");
    if (args.given("report")) feat::write_label_report(args.str("report"), q);
  }
  return 0;
}

const CommandRegistrar reg_kmeans("kmeans", "fit mini-batch k-means on dumped features (fairseq learn_kmeans)",
                                  run_kmeans);
const CommandRegistrar reg_label("label", "nearest-centroid frame labels -> .km, with a label-quality report",
                                 run_label);

}  // namespace
}  // namespace hm::cli
