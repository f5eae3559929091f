// Mini-batch k-means as fairseq's HuBERT recipe runs it (examples/hubert/simple_kmeans/learn_kmeans.py ->
// sklearn.cluster.MiniBatchKMeans 1.2: k-means++ init on init_size random rows, n_init tries scored on a
// validation draw, then max_iter * n / batch_size mini-batch steps with per-centre counts and 1/count learning
// rates, stopped early when the exponentially weighted batch inertia has not improved for max_no_improvement
// steps), plus plain Lloyd iterations, nearest-centroid labelling and label-quality statistics.
// Rows are float32 (n, D); centres float32 (k, D). Randomness comes from one hm::Generator, so a seed gives the
// same centres for any thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/kmeans.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm::feat {

// The "kmeans_assign" kernel table (variants: scalar direct distances; sgemm and sgemm_hwy, the GEMM expansion
// with a scalar or a Highway argmin).
KernelTable<cpu::KmeansAssignFn>& kmeans_assign_table();

struct MiniBatchKMeansOptions {
  int64_t n_clusters = 100;
  int64_t max_iter = 100;            // passes over the data: n_steps = max_iter * n / batch_size
  int64_t batch_size = 10000;        // fairseq's value (sklearn's default is 1024)
  double tol = 0.0;                  // stop when sum ||c_new - c_old||^2 <= tol * mean feature variance (0 = off)
  int64_t max_no_improvement = 100;  // fairseq's value; <= 0 disables the ewa-inertia early stop
  int64_t n_init = 20;               // k-means++ runs; the best on the validation draw is kept
  int64_t init_size = -1;            // rows per k-means++ run; -1 = sklearn default 3 * batch_size (>= 3 k)
  double reassignment_ratio = 0.0;   // fairseq's value; > 0 re-seeds centres with counts < ratio * max count
  uint64_t seed = 0;
  bool verbose = false;  // one line per init and per 100 steps on stderr
  Tensor init_centers;   // (k, D); when defined, used instead of k-means++ (like sklearn's init=array)
};

struct KMeansResult {
  Tensor centers;           // (k, D) float32
  int64_t n_steps = 0;      // mini-batch steps run (sklearn n_steps_) or Lloyd iterations
  int64_t n_iter = 0;       // ceil(n_steps * batch_size / n) (sklearn n_iter_)
  double init_inertia = 0;  // best k-means++ inertia on the validation draw (sum of squared distances)
  double ewa_inertia = 0;   // final smoothed mean batch inertia (sklearn _ewa_inertia)
  double inertia = 0;       // sum over all n rows of the squared distance to the nearest centre
  bool converged_early = false;
};

// sklearn _kmeans_plusplus: first centre uniform, then each next one the best (by resulting potential) of
// 2 + floor(ln k) candidates drawn with probability proportional to the squared distance to the nearest
// chosen centre. x (n, D) -> (k, D).
Tensor kmeans_plusplus(const Tensor& x, int64_t k, Generator& gen);

KMeansResult fit_minibatch_kmeans(const Tensor& x, const MiniBatchKMeansOptions& opt);

// Plain Lloyd iterations from the given centres until no label changes or max_iter (empty clusters keep their
// centre). The full-batch reference the mini-batch result is compared with.
KMeansResult fit_lloyd_kmeans(const Tensor& x, const Tensor& init_centers, int64_t max_iter);

// Nearest centre per row (first index on ties) and its squared distance: x (n, D), centers (k, D).
std::vector<int32_t> assign_labels(const Tensor& x, const Tensor& centers, std::vector<float>* sq_dist = nullptr);
double inertia(const Tensor& x, const Tensor& centers);  // sum of squared distances to the nearest centre

}  // namespace hm::feat
