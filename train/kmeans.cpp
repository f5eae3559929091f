#include "train/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "cpu/parallel.h"
#include "engine/error.h"

namespace hm::feat {

KernelTable<cpu::KmeansAssignFn>& kmeans_assign_table() {
  static KernelTable<cpu::KmeansAssignFn> t("kmeans_assign");
  return t;
}

namespace {
const bool kRegScalar = (kmeans_assign_table().add("scalar", cpu::kmeans_assign_scalar, 0), true);
const bool kRegSgemm = (kmeans_assign_table().add("sgemm", cpu::kmeans_assign_sgemm, 10), true);
const bool kRegSgemmHwy = (kmeans_assign_table().add("sgemm_hwy", cpu::kmeans_assign_sgemm_hwy, 20), true);

// Loops whose total work is below ~2 M simple operations run on the calling thread: an OpenMP region costs more
// than it saves there (and far more on a busy machine, where the second thread may not get a core for a whole
// time slice). Each loop's result is the same either way.
constexpr int64_t kParallelWork = int64_t(1) << 21;
template <class F>
void run_items(int64_t n, int64_t total_work, F&& f) {
  if (total_work < kParallelWork) {
    if (n > 0) f(int64_t(0), n);
  } else {
    cpu::parallel_for(n, kParallelWork, f);
  }
}

// Sum of f(i) over [0, n) in double: fixed blocks summed in block order, so the result does not depend on the
// thread count.
constexpr int64_t kSumBlock = 4096;
template <class F>
double blocked_sum(int64_t n, F&& f) {
  constexpr int64_t kBlock = kSumBlock;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(blocks), 0.0);  // (blocks,)
  run_items(blocks, n, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * kBlock, e = std::min(n, (b + 1) * kBlock); i < e; ++i) s += f(i);
      part[size_t(b)] = s;
    }
  });
  return std::accumulate(part.begin(), part.end(), 0.0);
}

void check_rows(const Tensor& x, const char* what) {
  check(x.dim() == 2 && x.dtype() == DType::f32 && x.is_contiguous(), what,
        ": expected contiguous float32 rows (n, D), got ", shape_str(x.shape()), " ", x.dtype());
  check(x.size(0) > 0 && x.size(1) > 0, what, ": empty input ", shape_str(x.shape()));
}

// Rows `idx` of x (n, D) -> (idx.size(), D).
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& idx) {
  const int64_t d = x.size(1);
  Tensor out = empty({int64_t(idx.size()), d});  // (m, D)
  const float* px = x.data<float>();
  float* po = out.data<float>();
  for (size_t i = 0; i < idx.size(); ++i) std::copy(px + idx[i] * d, px + (idx[i] + 1) * d, po + int64_t(i) * d);
  return out;
}

std::vector<int64_t> draw_with_replacement(Generator& gen, int64_t n, int64_t count) {  // np randint(0, n, count)
  std::vector<int64_t> idx(static_cast<size_t>(count));
  for (auto& i : idx) i = int64_t(gen.next_below(uint64_t(n)));
  return idx;
}

// Members of each cluster in row order: counting sort of labels (n,) into order (n,), starts (k + 1,).
void bucket_by_label(const std::vector<int32_t>& labels, int64_t k, std::vector<int64_t>& order,
                     std::vector<int64_t>& starts) {
  starts.assign(size_t(k + 1), 0);
  for (int32_t l : labels) ++starts[size_t(l) + 1];
  for (int64_t j = 0; j < k; ++j) starts[size_t(j + 1)] += starts[size_t(j)];
  order.resize(labels.size());
  std::vector<int64_t> fill(starts.begin(), starts.end() - 1);
  for (size_t i = 0; i < labels.size(); ++i) order[size_t(fill[size_t(labels[i])]++)] = int64_t(i);
}

}  // namespace

std::vector<int32_t> assign_labels(const Tensor& x, const Tensor& centers, std::vector<float>* sq_dist) {
  check_rows(x, "kmeans assign");
  check_rows(centers, "kmeans assign (centres)");
  check(x.size(1) == centers.size(1), "kmeans assign: feature dimension ", x.size(1), " but the centres have ",
        centers.size(1), " (x ", shape_str(x.shape()), ", centres ", shape_str(centers.shape()), ")");
  const int64_t n = x.size(0);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  std::vector<float> local;
  std::vector<float>& dist = sq_dist ? *sq_dist : local;
  dist.resize(size_t(n));
  kmeans_assign_table().get()(x.data<float>(), n, x.size(1), centers.data<float>(), centers.size(0), labels.data(),
                              dist.data());
  return labels;
}

double inertia(const Tensor& x, const Tensor& centers) {
  std::vector<float> dist;
  assign_labels(x, centers, &dist);
  return blocked_sum(int64_t(dist.size()), [&](int64_t i) { return double(dist[size_t(i)]); });
}

Tensor kmeans_plusplus(const Tensor& x, int64_t k, Generator& gen) {
  check_rows(x, "kmeans++");
  const int64_t n = x.size(0), d = x.size(1);
  check(k >= 1 && k <= n, "kmeans++: need 1 <= n_clusters <= rows, got n_clusters=", k, " for ", n, " rows");
  const float* px = x.data<float>();
  std::vector<float> x_sq(static_cast<size_t>(n));  // (n,)
  cpu::row_sq_norms(px, n, d, x_sq.data());
  const int64_t trials = 2 + int64_t(std::log(double(k)));  // sklearn n_local_trials
  Tensor centers = empty({k, d});                           // (k, D)
  float* pc = centers.data<float>();

  const int64_t first = int64_t(gen.next_below(uint64_t(n)));
  std::copy(px + first * d, px + (first + 1) * d, pc);
  std::vector<float> closest(static_cast<size_t>(n));  // (n,) squared distance to the nearest chosen centre
  cpu::sq_distances(px, x_sq.data(), n, d, pc, &x_sq[size_t(first)], 1, closest.data());
  closest[size_t(first)] = 0;  // exact, whatever the GEMM expansion's roundoff
  double pot = blocked_sum(n, [&](int64_t i) { return double(closest[size_t(i)]); });

  std::vector<double> cum(static_cast<size_t>(n));           // (n,) stable_cumsum(closest)
  std::vector<float> dist(static_cast<size_t>(n * trials));  // (n, trials)
  std::vector<float> cand(static_cast<size_t>(trials * d)), cand_sq(static_cast<size_t>(trials));
  std::vector<int64_t> cand_id(static_cast<size_t>(trials));
  std::vector<double> cand_pot(static_cast<size_t>(trials)), part;
  for (int64_t c = 1; c < k; ++c) {
    double run = 0;
    for (int64_t i = 0; i < n; ++i) cum[size_t(i)] = run += double(closest[size_t(i)]);
    for (int64_t t = 0; t < trials; ++t) {
      // searchsorted(cumsum, u * pot) (side='left'), clipped to n - 1 against roundoff
      const double r = gen.next_double() * pot;
      const int64_t id = int64_t(std::lower_bound(cum.begin(), cum.end(), r) - cum.begin());
      cand_id[size_t(t)] = std::min(id, n - 1);
      std::copy(px + cand_id[size_t(t)] * d, px + (cand_id[size_t(t)] + 1) * d, cand.data() + t * d);
      cand_sq[size_t(t)] = x_sq[size_t(cand_id[size_t(t)])];
    }
    cpu::sq_distances(px, x_sq.data(), n, d, cand.data(), cand_sq.data(), trials, dist.data());
    for (int64_t t = 0; t < trials; ++t) dist[size_t(cand_id[size_t(t)] * trials + t)] = 0;
    // potential of each candidate: sum_i min(closest_i, dist(x_i, candidate)); the smallest wins. One pass for
    // all candidates, partial sums per fixed block added in block order (thread-count independent).
    const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
    part.assign(size_t(blocks * trials), 0.0);  // (blocks, trials)
    run_items(blocks, n * trials, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t i = b * kSumBlock, e = std::min(n, (b + 1) * kSumBlock); i < e; ++i)
          for (int64_t t = 0; t < trials; ++t)
            part[size_t(b * trials + t)] += double(std::min(closest[size_t(i)], dist[size_t(i * trials + t)]));
    });
    int64_t best = 0;
    for (int64_t t = 0; t < trials; ++t) {
      cand_pot[size_t(t)] = 0;
      for (int64_t b = 0; b < blocks; ++b) cand_pot[size_t(t)] += part[size_t(b * trials + t)];
      if (cand_pot[size_t(t)] < cand_pot[size_t(best)]) best = t;
    }
    pot = cand_pot[size_t(best)];
    for (int64_t i = 0; i < n; ++i) closest[size_t(i)] = std::min(closest[size_t(i)], dist[size_t(i * trials + best)]);
    std::copy(cand.data() + best * d, cand.data() + (best + 1) * d, pc + c * d);
  }
  return centers;
}

KMeansResult fit_minibatch_kmeans(const Tensor& x, const MiniBatchKMeansOptions& opt) {
  check_rows(x, "mini-batch k-means");
  const int64_t n = x.size(0), d = x.size(1), k = opt.n_clusters;
  check(k >= 1, "mini-batch k-means: n_clusters must be >= 1, got ", k);
  check(k <= n, "mini-batch k-means: n_clusters=", k, " is more than the ", n, " frames to cluster");
  check(opt.batch_size >= 1 && opt.max_iter >= 1 && opt.n_init >= 1, "mini-batch k-means: batch_size, max_iter ",
        "and n_init must be >= 1 (got ", opt.batch_size, ", ", opt.max_iter, ", ", opt.n_init, ")");
  check(opt.reassignment_ratio >= 0 && opt.tol >= 0, "mini-batch k-means: reassignment_ratio and tol must be >= 0");
  const float* px = x.data<float>();
  for (int64_t i = 0; i < n * d; ++i)
    check(std::isfinite(px[i]), "mini-batch k-means: non-finite feature ", px[i], " at row ", i / d, ", dim ", i % d);

  // MiniBatchKMeans._check_params_vs_input
  const int64_t batch = std::min(opt.batch_size, n);
  int64_t init_size = opt.init_size;
  if (init_size < 0) init_size = 3 * batch;
  if (init_size < k) init_size = 3 * k;
  init_size = std::min(init_size, n);
  // _tolerance: tol * mean over features of the variance
  double tol = 0;
  if (opt.tol > 0) {
    double var_sum = 0;
    for (int64_t j = 0; j < d; ++j) {
      double s = 0, s2 = 0;
      for (int64_t i = 0; i < n; ++i) s += px[i * d + j], s2 += double(px[i * d + j]) * px[i * d + j];
      var_sum += s2 / double(n) - (s / double(n)) * (s / double(n));
    }
    tol = opt.tol * var_sum / double(d);
  }

  Generator gen(opt.seed);
  KMeansResult res;
  // Validation draw for scoring the inits, then n_init k-means++ runs on fresh random subsets (MiniBatchKMeans.fit).
  const Tensor x_valid = gather_rows(x, draw_with_replacement(gen, n, init_size));
  Tensor centers;
  if (opt.init_centers.defined()) {
    check(opt.init_centers.dim() == 2 && opt.init_centers.size(0) == k && opt.init_centers.size(1) == d &&
              opt.init_centers.dtype() == DType::f32,
          "mini-batch k-means: init_centers must be float32 (", k, ", ", d, "), got ",
          shape_str(opt.init_centers.shape()), " ", opt.init_centers.dtype());
    centers = opt.init_centers.contiguous();
    res.init_inertia = inertia(x_valid, centers);
  }
  for (int64_t r = 0; r < opt.n_init && !opt.init_centers.defined(); ++r) {
    const Tensor sub = init_size < n ? gather_rows(x, draw_with_replacement(gen, n, init_size)) : x;
    const Tensor c = kmeans_plusplus(sub, k, gen);
    const double in = inertia(x_valid, c);
    if (opt.verbose)
      std::fprintf(stderr, "kmeans: init %lld/%lld inertia %.6g\n", (long long)r + 1, (long long)opt.n_init, in);
    if (r == 0 || in < res.init_inertia) res.init_inertia = in, centers = c;
  }
  centers = centers.clone();
  Tensor centers_new = empty({k, d});                       // (k, D)
  std::vector<double> counts(static_cast<size_t>(k), 0.0);  // (k,) samples seen per centre

  const int64_t n_steps = (opt.max_iter * n) / batch;
  double ewa = 0, ewa_min = 0;
  bool have_ewa = false, have_min = false;
  int64_t no_improvement = 0, since_reassign = 0, step = 0;
  std::vector<int32_t> labels;
  std::vector<float> dist;
  std::vector<int64_t> order, starts;
  for (; step < n_steps; ++step) {
    const Tensor xb = gather_rows(x, draw_with_replacement(gen, n, batch));  // (batch, D)
    // _random_reassign(): evaluated before the step, on the counts before the update
    since_reassign += batch;
    bool reassign_now = false;
    if (std::any_of(counts.begin(), counts.end(), [](double c) { return c == 0; }) || since_reassign >= 10 * k) {
      since_reassign = 0;
      reassign_now = true;
    }
    labels = assign_labels(xb, centers, &dist);
    const double batch_inertia = blocked_sum(batch, [&](int64_t i) { return double(dist[size_t(i)]); });

    // _minibatch_update_dense: c_new = (c_old * count + sum of its batch members) / (count + members), i.e. each
    // sample moves its centre with learning rate 1 / (samples seen so far).
    bucket_by_label(labels, k, order, starts);
    const float* pb = xb.data<float>();
    const float* pc = centers.data<float>();
    float* pn = centers_new.data<float>();
    run_items(k, batch * d, [&](int64_t j0, int64_t j1) {
      std::vector<double> acc(static_cast<size_t>(d));  // (D,)
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t members = starts[size_t(j + 1)] - starts[size_t(j)];
        if (members == 0) {
          std::copy(pc + j * d, pc + (j + 1) * d, pn + j * d);
          continue;
        }
        for (int64_t t = 0; t < d; ++t) acc[size_t(t)] = double(pc[j * d + t]) * counts[size_t(j)];
        for (int64_t m = starts[size_t(j)]; m < starts[size_t(j + 1)]; ++m)
          for (int64_t t = 0; t < d; ++t) acc[size_t(t)] += pb[order[size_t(m)] * d + t];
        counts[size_t(j)] += double(members);
        for (int64_t t = 0; t < d; ++t) pn[j * d + t] = float(acc[size_t(t)] / counts[size_t(j)]);
      }
    });

    if (reassign_now && opt.reassignment_ratio > 0) {
      // Centres with counts < ratio * max count jump to random batch rows (at most half a batch of them), and
      // their counts are raised to the smallest remaining count (sklearn _mini_batch_step).
      const double max_count = *std::max_element(counts.begin(), counts.end());
      std::vector<int64_t> low;
      for (int64_t j = 0; j < k; ++j)
        if (counts[size_t(j)] < opt.reassignment_ratio * max_count) low.push_back(j);
      if (double(low.size()) > 0.5 * double(batch)) {
        std::stable_sort(low.begin(), low.end(),
                         [&](int64_t a, int64_t b) { return counts[size_t(a)] < counts[size_t(b)]; });
        low.resize(size_t(0.5 * double(batch)));
        std::sort(low.begin(), low.end());
      }
      if (!low.empty()) {
        std::vector<int64_t> perm(static_cast<size_t>(batch));  // choice(batch, len(low), replace=False)
        std::iota(perm.begin(), perm.end(), 0);
        for (size_t r = 0; r < low.size(); ++r)
          std::swap(perm[r], perm[r + size_t(gen.next_below(uint64_t(batch) - r))]);
        std::vector<bool> is_low(static_cast<size_t>(k), false);
        for (size_t r = 0; r < low.size(); ++r) {
          std::copy(pb + perm[r] * d, pb + (perm[r] + 1) * d, pn + low[r] * d);
          is_low[size_t(low[r])] = true;
        }
        double min_kept = INFINITY;
        for (int64_t j = 0; j < k; ++j)
          if (!is_low[size_t(j)]) min_kept = std::min(min_kept, counts[size_t(j)]);
        for (int64_t j : low) counts[size_t(j)] = min_kept;
        if (opt.verbose) std::fprintf(stderr, "kmeans: reassigning %zu cluster centres\n", low.size());
      }
    }

    double centers_sq_diff = 0;
    if (tol > 0)
      for (int64_t i = 0; i < k * d; ++i) centers_sq_diff += double(pn[i] - pc[i]) * double(pn[i] - pc[i]);
    std::swap(centers, centers_new);

    // _mini_batch_convergence: mean batch inertia, smoothed with alpha = 2 batch / (n + 1); step 1 is skipped
    // (its inertia is the init's).
    const double mean_inertia = batch_inertia / double(batch);
    if (opt.verbose && (step % 100 == 0 || step + 1 == n_steps))
      std::fprintf(stderr, "kmeans: step %lld/%lld mean batch inertia %.6g ewa %.6g\n", (long long)step + 1,
                   (long long)n_steps, mean_inertia, ewa);
    if (step == 0) continue;
    const double alpha = std::min(1.0, double(batch) * 2.0 / double(n + 1));
    ewa = have_ewa ? ewa * (1 - alpha) + mean_inertia * alpha : mean_inertia;
    have_ewa = true;
    if (tol > 0 && centers_sq_diff <= tol) {
      res.converged_early = true;
      break;
    }
    if (!have_min || ewa < ewa_min) {
      no_improvement = 0;
      ewa_min = ewa;
      have_min = true;
    } else {
      ++no_improvement;
    }
    if (opt.max_no_improvement > 0 && no_improvement >= opt.max_no_improvement) {
      res.converged_early = true;
      break;
    }
  }
  res.n_steps = std::min(step + 1, n_steps);
  res.n_iter = (res.n_steps * batch + n - 1) / n;
  res.ewa_inertia = ewa;
  res.centers = centers;
  res.inertia = inertia(x, centers);
  if (opt.verbose)
    std::fprintf(stderr, "kmeans: %lld steps (%lld passes)%s, inertia %.6g (%.6g per frame)\n", (long long)res.n_steps,
                 (long long)res.n_iter, res.converged_early ? ", stopped early" : "", res.inertia,
                 res.inertia / double(n));
  return res;
}

KMeansResult fit_lloyd_kmeans(const Tensor& x, const Tensor& init_centers, int64_t max_iter) {
  check_rows(x, "Lloyd k-means");
  check_rows(init_centers, "Lloyd k-means (initial centres)");
  check(x.size(1) == init_centers.size(1), "Lloyd k-means: feature dimension ", x.size(1),
        " but the initial centres have ", init_centers.size(1));
  const int64_t n = x.size(0), d = x.size(1), k = init_centers.size(0);
  Tensor centers = init_centers.clone();
  std::vector<int32_t> labels = assign_labels(x, centers);
  std::vector<int64_t> order, starts;
  KMeansResult res;
  const float* px = x.data<float>();
  for (res.n_steps = 0; res.n_steps < max_iter;) {
    ++res.n_steps;
    bucket_by_label(labels, k, order, starts);
    float* pc = centers.data<float>();
    run_items(k, n * d, [&](int64_t j0, int64_t j1) {
      std::vector<double> acc(static_cast<size_t>(d));  // (D,)
      for (int64_t j = j0; j < j1; ++j) {
        if (starts[size_t(j + 1)] == starts[size_t(j)]) continue;  // empty cluster keeps its centre
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t m = starts[size_t(j)]; m < starts[size_t(j + 1)]; ++m)
          for (int64_t t = 0; t < d; ++t) acc[size_t(t)] += px[order[size_t(m)] * d + t];
        const double cnt = double(starts[size_t(j + 1)] - starts[size_t(j)]);
        for (int64_t t = 0; t < d; ++t) pc[j * d + t] = float(acc[size_t(t)] / cnt);
      }
    });
    std::vector<int32_t> next = assign_labels(x, centers);
    const bool same = next == labels;
    labels.swap(next);
    if (same) {
      res.converged_early = res.n_steps < max_iter;
      break;
    }
  }
  res.n_iter = res.n_steps;
  res.centers = centers;
  res.inertia = inertia(x, centers);
  return res;
}

}  // namespace hm::feat
