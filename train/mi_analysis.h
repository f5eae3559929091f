// Per-layer mutual information of a model (SPEC.md 1 and 8; the paper's Fig. 2-4): I(X; T_i) between the
// encoder's input features X (hidden[0], the representation entering layer 1) and the output T_i of layer i,
// i = 1..L, each estimated with MINE (train/mine.h) and averaged over N random utterances of a manifest.
//
// Defaults are the correct behaviour; flags reproduce the original analysis code:
//   * trimmed: every utterance is run alone, so X and T_i hold only its valid frames. keep_padding runs batches
//     of 25 zero-padded utterances (s3prl_feature.py, DataLoader(batch_size=25, shuffle=False)) and estimates on
//     all T_max frames of each row, padding included (MI_Calculator.py uses exp_tensor[layer][index] whole);
//   * independent calls: a fresh statistics network per (utterance, layer), seeded from (seed, utterance,
//     layer), so the result does not depend on the thread count or the order. warm_start keeps one network
//     across all calls in the original's order (for each batch, for each layer, for each utterance), which is
//     inherently sequential.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/json.h"
#include "train/mine.h"

namespace hm {

struct MiAnalysisOptions {
  std::string ckpt, config;   // model (config may be empty when the checkpoint carries model_config)
  std::string manifest;       // fairseq .tsv
  int64_t utterances = 100;   // N random utterances (all when the manifest has fewer)
  uint64_t seed = 1;          // utterance choice and every MINE seed
  std::string device = "cpu"; // where the encoder runs (hidden states come back to the host; MINE runs there)
  MineConfig mine;            // epochs, batch size, lr, hidden, drop_last (mine.seed is derived per call)
  bool warm_start = false;    // the original's statistics network shared across calls
  bool keep_padding = false;  // the original's zero-padded batches
  int64_t pad_batch = 25;     // utterances per padded batch (keep_padding)
  // Threads: > 1 runs that many utterances (or padded batches) at once, each worker with single-threaded
  // kernels; 1 runs them one after the other with the kernels using cpu::num_threads(). 0: cpu::num_threads().
  int workers = 0;
  double shape_tol = 0.02;  // nats; the classifier uses max(shape_tol, 2 * largest standard error)
  bool progress = false;    // progress lines on stderr
};

// Shape of a per-layer MI curve (the paper's claim is about these two).
enum class CurveShape { monotonic_decrease, decrease_then_increase, flat, other };
const char* curve_shape_name(CurveShape s);

// y: the curve over layers 1..L. With m = argmin y (first), range = max y - min y:
//   flat                    range <= tol;
//   monotonic_decrease      no point lies more than tol above the running minimum of the points before it, and
//                           y[0] - y[L-1] > tol;
//   decrease_then_increase  y[0] - y[m] > tol and y[L-1] - y[m] > tol (down to an interior minimum, then up);
//   other                   anything else (rising, or down-up-down back to the minimum).
CurveShape classify_curve(const std::vector<double>& y, double tol);

struct MiCurve {
  std::string label;                               // legend text (model name)
  std::vector<int64_t> layers;                     // 1..L
  std::vector<double> mean, stddev;                // per layer, over utterances (population std)
  std::vector<std::vector<double>> per_utterance;  // [layer][utterance]
  std::vector<std::string> utterances;             // manifest paths, in the order of per_utterance
  std::vector<int64_t> frames;                     // frames each utterance's estimate used
  CurveShape shape = CurveShape::other;
  double shape_tol = 0;     // the tolerance the classifier used
  int64_t min_layer = 0;    // layer of the smallest mean
  double seconds = 0;       // wall time of the analysis
  double mine_seconds = 0;  // summed wall time of the MINE calls (all workers)
  int64_t mine_calls = 0;
};

// Run the analysis. Throws naming the manifest, checkpoint or utterance on bad input.
MiCurve analyze_model(const MiAnalysisOptions& opt);

// The per-layer statistics and the shape of already estimated values: per_utterance[layer][utterance].
void summarize_curve(MiCurve& c, double shape_tol);

// JSON (mean, std, per-utterance values, shape, options) and back; read errors name the file.
Json curve_to_json(const MiCurve& c, const MiAnalysisOptions& opt);
MiCurve curve_from_json(const Json& j, const std::string& source);
// One PNG/SVG with every curve's per-layer mean (one curve: also mean +- std).
void write_curve_plot(const std::string& path, const std::vector<MiCurve>& curves);

}  // namespace hm
