// CUDA layer / group / batch norm (DESIGN.md 6, tier 2): every CUDA variant against the CPU scalar reference on
// random shapes (rows 1 and 33, widths 1, 7, 769, group counts 1 .. C), outputs poisoned with NaN first; the ops
// forward and backward on the GPU against the same ops on the CPU (every input gradient, running statistics,
// padding masks, eval mode); bad input. Tests that need a GPU skip with "skipped: no GPU". The CPU tables of group
// and batch norm are checked here too, against a naive double-precision reference (runs everywhere).
//   conformance: layer_norm_forward_f32@cuda
//   conformance: layer_norm_forward_f64@cuda
//   conformance: layer_norm_backward_f32@cuda
//   conformance: layer_norm_backward_f64@cuda
//   conformance: group_norm_f32@cuda
//   conformance: group_norm_f64@cuda
//   conformance: batch_norm_f32@cuda
//   conformance: batch_norm_f64@cuda
//   conformance: group_norm_f32
//   conformance: group_norm_f64
//   conformance: batch_norm_f32
//   conformance: batch_norm_f64
#include <functional>

#include "engine/strided.h"
#include "ops/ops.h"
#include "tests/cuda_norm_util.h"

namespace hm::test {
namespace {

using namespace cuda_util;

struct GroupShape {
  int64_t B, C, L, G;
};
// G = C is HuBERT's GroupNorm(512, 512) after the first conv; G = 1 normalises whole (C, L) slabs.
const GroupShape kGroupShapes[] = {{1, 1, 1, 1},  {2, 6, 7, 3},    {3, 8, 33, 8},  {2, 512, 50, 512},
                                   {1, 4, 769, 1}, {33, 6, 5, 2}, {2, 3, 1, 3}};

struct BatchShape {
  int64_t B, C, L;
};
const BatchShape kBatchShapes[] = {{2, 1, 1}, {3, 5, 7}, {4, 33, 100}, {8, 3, 769}, {33, 2, 1}};

// Padding mask (B, L): element b has its last b * L / (2 B) frames padded (element 0 none).
std::vector<uint8_t> tail_mask(int64_t B, int64_t L) {
  std::vector<uint8_t> m(static_cast<size_t>(B * L), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = L - b * L / (2 * B); l < L; ++l) m[size_t(b * L + l)] = 1;
  return m;
}

// ---- naive double-precision references for the CPU tables ------------------------------------------------------
struct GroupRef {
  std::vector<double> y, mean, rstd, dx, dw, db;
};
GroupRef naive_group_norm(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& bias,
                          const std::vector<double>& dy, GroupShape s, double eps) {
  const auto [B, C, L, G] = s;
  const int64_t cg = C / G, n = cg * L;
  GroupRef r{std::vector<double>(x.size()), {}, {}, std::vector<double>(x.size()), std::vector<double>(static_cast<size_t>(C)),
             std::vector<double>(static_cast<size_t>(C))};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t g = 0; g < G; ++g) {
      const int64_t base = (b * C + g * cg) * L;  // the group's (cg, L) slab
      double m = 0, v = 0;
      for (int64_t i = 0; i < n; ++i) m += x[size_t(base + i)] / double(n);
      for (int64_t i = 0; i < n; ++i) v += (x[size_t(base + i)] - m) * (x[size_t(base + i)] - m) / double(n);
      const double rs = 1 / std::sqrt(v + eps);
      r.mean.push_back(m);
      r.rstd.push_back(rs);
      double sd = 0, sdx = 0;  // sums of d = dy * w and d * xhat over the group
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = g * cg + i / L;
        const double xhat = (x[size_t(base + i)] - m) * rs, d = dy[size_t(base + i)] * w[size_t(c)];
        r.y[size_t(base + i)] = xhat * w[size_t(c)] + bias[size_t(c)];
        sd += d;
        sdx += d * xhat;
        r.dw[size_t(c)] += dy[size_t(base + i)] * xhat;
        r.db[size_t(c)] += dy[size_t(base + i)];
      }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = g * cg + i / L;
        const double xhat = (x[size_t(base + i)] - m) * rs;
        r.dx[size_t(base + i)] = rs * (dy[size_t(base + i)] * w[size_t(c)] - sd / double(n) - xhat * sdx / double(n));
      }
    }
  return r;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
void group_norm_cpu_table_matches_naive() {
  check_all_variants(group_norm_table<T>(), [&](const std::string& name, GroupNormFns<T> k) {
    for (const GroupShape s : kGroupShapes) {
      SCOPED_TRACE(name + " B=" + std::to_string(s.B) + " C=" + std::to_string(s.C) + " L=" + std::to_string(s.L) +
                   " G=" + std::to_string(s.G));
      const int64_t n = s.B * s.C * s.L;
      const auto x = random_vec<double>(n, uint64_t(s.C * 31 + s.L), 2.0), dy = random_vec<double>(n, 7);
      const auto w = random_vec<double>(s.C, 5), b = random_vec<double>(s.C, 6);
      const GroupRef ref = naive_group_norm(x, w, b, dy, s, 1e-5);
      const auto xt = cast<T>(x), dyt = cast<T>(dy), wt = cast<T>(w), bt = cast<T>(b);
      std::vector<T> y(static_cast<size_t>(n)), m(static_cast<size_t>(s.B * s.G)), rs(static_cast<size_t>(s.B * s.G)), dx(static_cast<size_t>(n)), dw(static_cast<size_t>(s.C)),
          db(static_cast<size_t>(s.C));
      k.forward(xt.data(), wt.data(), bt.data(), T(1e-5), s.B, s.C, s.L, s.G, y.data(), m.data(), rs.data());
      k.backward(dyt.data(), xt.data(), wt.data(), m.data(), rs.data(), s.B, s.C, s.L, s.G, dx.data(), dw.data(),
                 db.data());
      EXPECT_TRUE(close_to(y, cast<T>(ref.y), tolerance<T>(10)));
      EXPECT_TRUE(close_to(rs, cast<T>(ref.rstd), tolerance<T>(10)));
      EXPECT_TRUE(close_to(dx, cast<T>(ref.dx), tolerance<T>(10)));
      EXPECT_TRUE(close_to(dw, cast<T>(ref.dw), tolerance<T>(10)));
      EXPECT_TRUE(close_to(db, cast<T>(ref.db), tolerance<T>(10)));
    }
  });
}

TEST(GroupNormTable, CpuVariantsMatchNaiveReference) {
  group_norm_cpu_table_matches_naive<float>();
  group_norm_cpu_table_matches_naive<double>();
}

// Batch norm, training with a mask: statistics over the unpadded frames, torch's running-stat update, the
// gradient of ops/norm.h.
template <class T>
void batch_norm_cpu_table_matches_naive() {
  check_all_variants(batch_norm_table<T>(), [&](const std::string& name, BatchNormFns<T> k) {
    for (const BatchShape s : kBatchShapes) {
      const auto [B, C, L] = s;
      SCOPED_TRACE(name + " B=" + std::to_string(B) + " C=" + std::to_string(C) + " L=" + std::to_string(L));
      const int64_t n = B * C * L;
      const auto x = random_vec<double>(n, uint64_t(C * 17 + L), 1.5), dy = random_vec<double>(n, 8);
      const auto w = random_vec<double>(C, 5), b = random_vec<double>(C, 6), rm = random_vec<double>(C, 9);
      const std::vector<uint8_t> mask = tail_mask(B, L);
      int64_t nv = 0;
      for (uint8_t v : mask) nv += v == 0;
      std::vector<double> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C)), rstd(static_cast<size_t>(C)), y(static_cast<size_t>(n)), dx(static_cast<size_t>(n)),
          dw(static_cast<size_t>(C)), db(static_cast<size_t>(C)), rm_ref(static_cast<size_t>(C)), rv_ref(static_cast<size_t>(C));
      for (int64_t c = 0; c < C; ++c) {
        auto at = [&](int64_t i) { return ((i / L) * C + c) * L + i % L; };  // i-th (b, l) of channel c
        for (int64_t i = 0; i < B * L; ++i)
          if (!mask[size_t(i)]) mean[size_t(c)] += x[size_t(at(i))] / double(nv);
        for (int64_t i = 0; i < B * L; ++i)
          if (!mask[size_t(i)]) var[size_t(c)] += std::pow(x[size_t(at(i))] - mean[size_t(c)], 2) / double(nv);
        rstd[size_t(c)] = 1 / std::sqrt(var[size_t(c)] + 1e-5);
        rm_ref[size_t(c)] = 0.9 * rm[size_t(c)] + 0.1 * mean[size_t(c)];
        rv_ref[size_t(c)] = 0.9 * 1.0 + 0.1 * var[size_t(c)] * double(nv) / double(nv - 1);
        double sd = 0, sdx = 0;
        for (int64_t i = 0; i < B * L; ++i) {
          const double xhat = (x[size_t(at(i))] - mean[size_t(c)]) * rstd[size_t(c)];
          y[size_t(at(i))] = xhat * w[size_t(c)] + b[size_t(c)];
          sd += dy[size_t(at(i))];
          sdx += dy[size_t(at(i))] * xhat;
        }
        dw[size_t(c)] = sdx;
        db[size_t(c)] = sd;
        for (int64_t i = 0; i < B * L; ++i) {
          const double xhat = (x[size_t(at(i))] - mean[size_t(c)]) * rstd[size_t(c)];
          const double stat = mask[size_t(i)] ? 0 : (w[size_t(c)] * sd + xhat * w[size_t(c)] * sdx) / double(nv);
          dx[size_t(at(i))] = rstd[size_t(c)] * (dy[size_t(at(i))] * w[size_t(c)] - stat);
        }
      }
      const auto xt = cast<T>(x), dyt = cast<T>(dy), wt = cast<T>(w), bt = cast<T>(b);
      std::vector<T> km(static_cast<size_t>(C)), kv(static_cast<size_t>(C)), krs(static_cast<size_t>(C)), ky(static_cast<size_t>(n)), kdx(static_cast<size_t>(n)), kdw(static_cast<size_t>(C)),
          kdb(static_cast<size_t>(C)), krm = cast<T>(rm), krv(static_cast<size_t>(C), T(1));
      EXPECT_EQ(k.stats(xt.data(), mask.data(), B, C, L, km.data(), kv.data()), nv);
      k.update_running(km.data(), kv.data(), nv, T(0.1), C, krm.data(), krv.data());
      k.rstd(kv.data(), T(1e-5), C, krs.data());
      k.apply(xt.data(), km.data(), krs.data(), wt.data(), bt.data(), B, C, L, ky.data());
      k.backward(dyt.data(), xt.data(), mask.data(), wt.data(), km.data(), krs.data(), true, nv, B, C, L, kdx.data(),
                 kdw.data(), kdb.data());
      EXPECT_TRUE(close_to(km, cast<T>(mean), tolerance<T>(10)));
      EXPECT_TRUE(close_to(kv, cast<T>(var), tolerance<T>(10)));
      EXPECT_TRUE(close_to(krm, cast<T>(rm_ref), tolerance<T>(10)));
      EXPECT_TRUE(close_to(krv, cast<T>(rv_ref), tolerance<T>(10)));
      EXPECT_TRUE(close_to(ky, cast<T>(y), tolerance<T>(10)));
      EXPECT_TRUE(close_to(kdx, cast<T>(dx), tolerance<T>(100)));
      EXPECT_TRUE(close_to(kdw, cast<T>(dw), tolerance<T>(100)));
      EXPECT_TRUE(close_to(kdb, cast<T>(db), tolerance<T>(100)));
    }
  });
}

TEST(BatchNormTable, CpuVariantsMatchNaiveReference) {
  batch_norm_cpu_table_matches_naive<float>();
  batch_norm_cpu_table_matches_naive<double>();
}

// The CUDA tables hold exactly the cuda_* variants in a CUDA build and nothing in a CPU-only one; a CPU variant
// override leaves them on their default (runs everywhere).
TEST(NormCuda, TablesRegistered) {
#if HUBMAMBA_WITH_CUDA
  const std::vector<std::string> ln = {"cuda_rowwise", "cuda_warp"};
  EXPECT_EQ(layer_norm_forward_cuda_table<float>().variants(), ln);
  EXPECT_EQ(layer_norm_backward_cuda_table<double>().variants(), ln);
  EXPECT_EQ(layer_norm_forward_cuda_table<float>().selected(), "cuda_warp");
  EXPECT_EQ(group_norm_cuda_table<float>().variants(), std::vector<std::string>{"cuda_blockwise"});
  EXPECT_EQ(batch_norm_cuda_table<double>().variants(), std::vector<std::string>{"cuda_channel"});
  EXPECT_EQ(layer_norm_forward_cuda_table<float>().name(), "layer_norm_forward_f32@cuda");
  set_kernel_overrides("layer_norm_forward_f32=scalar,group_norm_f64=cuda_blockwise");
  EXPECT_EQ(layer_norm_forward_cuda_table<float>().selected(), "cuda_warp");
  EXPECT_EQ(layer_norm_forward_table<float>().selected(), "scalar");
  EXPECT_EQ(group_norm_cuda_table<double>().selected(), "cuda_blockwise");
  clear_kernel_overrides();
#else
  EXPECT_TRUE(layer_norm_forward_cuda_table<float>().variants().empty());
  EXPECT_TRUE(group_norm_cuda_table<float>().variants().empty());
  EXPECT_TRUE(batch_norm_cuda_table<float>().variants().empty());
#endif
}

// ---- CUDA variants vs the CPU scalar kernels -----------------------------------------------------------------------
template <class T>
void layer_norm_cuda_conformance() {
  const auto ref_fwd = layer_norm_forward_table<T>().get("scalar");
  const auto ref_bwd = layer_norm_backward_table<T>().get("scalar");
  for_each_cuda_variant(layer_norm_forward_cuda_table<T>(), [&](const std::string&, cpu::LayerNormForwardFn<T> fwd) {
    for_each_cuda_variant(layer_norm_backward_cuda_table<T>(), [&](const std::string&,
                                                                   cpu::LayerNormBackwardFn<T> bwd) {
      for (int64_t rows : {1, 33, 300})
        for (int64_t C : {1, 7, 64, 769, 2048})
          for (int affine = 0; affine < 3; ++affine) {  // 0: none, 1: weight only, 2: weight and bias
            SCOPED_TRACE("rows=" + std::to_string(rows) + " C=" + std::to_string(C) +
                         " affine=" + std::to_string(affine));
            // A large common offset exercises the two-pass variance.
            const auto x = random_vec<T>(rows * C, uint64_t(rows * 1000 + C), 3.0), dy = random_vec<T>(rows * C, 4);
            const auto w = random_vec<T>(C, 5), b = random_vec<T>(C, 6);
            const T* pw = affine >= 1 ? w.data() : nullptr;
            const T* pb = affine == 2 ? b.data() : nullptr;
            std::vector<T> y(static_cast<size_t>(rows * C)), m(static_cast<size_t>(rows)), s(static_cast<size_t>(rows)), dx(static_cast<size_t>(rows * C));
            std::vector<T> dw(static_cast<size_t>(C), T(0)), db(static_cast<size_t>(C), T(0));  // the contract accumulates
            ref_fwd(x.data(), pw, pb, T(1e-5), rows, C, y.data(), m.data(), s.data());
            ref_bwd(dy.data(), x.data(), pw, m.data(), s.data(), rows, C, dx.data(), dw.data(), db.data());

            const Tensor X = to_gpu(x), DY = to_gpu(dy), W = to_gpu(w), Bv = to_gpu(b);
            const Tensor Y = poisoned<T>(rows * C), M = poisoned<T>(rows), S = poisoned<T>(rows);
            fwd(dptr<T>(X), affine >= 1 ? dptr<T>(W) : nullptr, affine == 2 ? dptr<T>(Bv) : nullptr, T(1e-5), rows,
                C, dptr<T>(Y), dptr<T>(M), dptr<T>(S));
            // C = 1 normalises one element: x - mean is a rounding residual that rstd = 1/sqrt(eps) ~ 316 amplifies
            // (the CPU happens to get exactly 0), so y and dx get 10x the tolerance there.
            const double deg = C == 1 ? 10 : 1;
            EXPECT_TRUE(close_to(Y, y, tolerance<T>(deg)));
            EXPECT_TRUE(close_to(M, m, tolerance<T>()));
            EXPECT_TRUE(close_to(S, s, tolerance<T>()));
            // Backward from the reference statistics; dweight / dbias start at 1 to check they are accumulated.
            const Tensor DX = poisoned<T>(rows * C), DW = full({C}, 1.0, dtype_of<T>::value, gpu()),
                         DB = full({C}, 1.0, dtype_of<T>::value, gpu());
            bwd(dptr<T>(DY), dptr<T>(X), affine >= 1 ? dptr<T>(W) : nullptr, dptr<T>(to_gpu(m)), dptr<T>(to_gpu(s)),
                rows, C, dptr<T>(DX), dptr<T>(DW), dptr<T>(DB));
            for (int64_t c = 0; c < C; ++c) dw[size_t(c)] += T(1), db[size_t(c)] += T(1);
            EXPECT_TRUE(close_to(DX, dx, tolerance<T>(deg)));
            // dweight / dbias sum `rows` terms: 10x looser.
            EXPECT_TRUE(close_to(DW, dw, tolerance<T>(10)));
            EXPECT_TRUE(close_to(DB, db, tolerance<T>(10)));
            // Optional outputs left null.
            const Tensor DX2 = poisoned<T>(rows * C);
            bwd(dptr<T>(DY), dptr<T>(X), affine >= 1 ? dptr<T>(W) : nullptr, dptr<T>(to_gpu(m)), dptr<T>(to_gpu(s)),
                rows, C, dptr<T>(DX2), nullptr, nullptr);
            EXPECT_TRUE(close_to(DX2, dx, tolerance<T>(deg)));
          }
    });
  });
}

TEST(NormCuda, LayerNormConformance) {
  HM_SKIP_WITHOUT_CUDA();
  layer_norm_cuda_conformance<float>();
  layer_norm_cuda_conformance<double>();
}

template <class T>
void group_norm_cuda_conformance() {
  const GroupNormFns<T> ref = group_norm_table<T>().get("scalar");
  for_each_cuda_variant(group_norm_cuda_table<T>(), [&](const std::string&, GroupNormFns<T> k) {
    for (const GroupShape s : kGroupShapes)
      for (int affine = 0; affine < 2; ++affine) {
        const auto [B, C, L, G] = s;
        SCOPED_TRACE("B=" + std::to_string(B) + " C=" + std::to_string(C) + " L=" + std::to_string(L) +
                     " G=" + std::to_string(G) + " affine=" + std::to_string(affine));
        const int64_t n = B * C * L;
        const auto x = random_vec<T>(n, uint64_t(C * 3 + L), 2.0), dy = random_vec<T>(n, 11);
        const auto w = random_vec<T>(C, 5), b = random_vec<T>(C, 6);
        const T* pw = affine ? w.data() : nullptr;
        const T* pb = affine ? b.data() : nullptr;
        std::vector<T> y(static_cast<size_t>(n)), m(static_cast<size_t>(B * G)), rs(static_cast<size_t>(B * G)), dx(static_cast<size_t>(n)), dw(static_cast<size_t>(C)), db(static_cast<size_t>(C));
        ref.forward(x.data(), pw, pb, T(1e-5), B, C, L, G, y.data(), m.data(), rs.data());
        ref.backward(dy.data(), x.data(), pw, m.data(), rs.data(), B, C, L, G, dx.data(), dw.data(), db.data());

        const Tensor X = to_gpu(x), DY = to_gpu(dy), W = to_gpu(w), Bv = to_gpu(b);
        const Tensor Y = poisoned<T>(n), M = poisoned<T>(B * G), RS = poisoned<T>(B * G);
        k.forward(dptr<T>(X), affine ? dptr<T>(W) : nullptr, affine ? dptr<T>(Bv) : nullptr, T(1e-5), B, C, L, G,
                  dptr<T>(Y), dptr<T>(M), dptr<T>(RS));
        // A group of one element: x - mean is a rounding residual amplified by rstd = 1/sqrt(eps) (see layer norm).
        const double deg = (C / G) * L == 1 ? 10 : 1;
        EXPECT_TRUE(close_to(Y, y, tolerance<T>(deg)));
        EXPECT_TRUE(close_to(M, m, tolerance<T>()));
        EXPECT_TRUE(close_to(RS, rs, tolerance<T>()));
        const Tensor DX = poisoned<T>(n), DW = poisoned<T>(C), DB = poisoned<T>(C);
        k.backward(dptr<T>(DY), dptr<T>(X), affine ? dptr<T>(W) : nullptr, dptr<T>(to_gpu(m)), dptr<T>(to_gpu(rs)), B,
                   C, L, G, dptr<T>(DX), dptr<T>(DW), dptr<T>(DB));
        // Up to 769-term group sums feed dx; dweight / dbias sum B * L terms.
        EXPECT_TRUE(close_to(DX, dx, tolerance<T>(10)));
        EXPECT_TRUE(close_to(DW, dw, tolerance<T>(10)));
        EXPECT_TRUE(close_to(DB, db, tolerance<T>(10)));
        const Tensor DX2 = poisoned<T>(n);
        k.backward(dptr<T>(DY), dptr<T>(X), affine ? dptr<T>(W) : nullptr, dptr<T>(to_gpu(m)), dptr<T>(to_gpu(rs)), B,
                   C, L, G, dptr<T>(DX2), nullptr, nullptr);
        EXPECT_TRUE(close_to(DX2, dx, tolerance<T>(10)));
      }
  });
}

TEST(NormCuda, GroupNormConformance) {
  HM_SKIP_WITHOUT_CUDA();
  group_norm_cuda_conformance<float>();
  group_norm_cuda_conformance<double>();
}

template <class T>
void batch_norm_cuda_conformance() {
  const BatchNormFns<T> ref = batch_norm_table<T>().get("scalar");
  for_each_cuda_variant(batch_norm_cuda_table<T>(), [&](const std::string&, BatchNormFns<T> k) {
    for (const BatchShape s : kBatchShapes)
      for (int masked = 0; masked < 2; ++masked)
        for (int training = 0; training < 2; ++training) {
          const auto [B, C, L] = s;
          SCOPED_TRACE("B=" + std::to_string(B) + " C=" + std::to_string(C) + " L=" + std::to_string(L) +
                       (masked ? " masked" : "") + (training ? " training" : " eval"));
          const int64_t n = B * C * L;
          const auto x = random_vec<T>(n, uint64_t(C + L), 1.5), dy = random_vec<T>(n, 12);
          const auto w = random_vec<T>(C, 5), b = random_vec<T>(C, 6), rm = random_vec<T>(C, 20);
          std::vector<T> rv = random_vec<T>(C, 21);
          for (T& v : rv) v = std::abs(v) + T(0.1);
          const std::vector<uint8_t> mask = tail_mask(B, L);
          const uint8_t* pm = masked ? mask.data() : nullptr;
          const Tensor X = to_gpu(x), DY = to_gpu(dy), W = to_gpu(w), Bv = to_gpu(b), MASK = to_gpu(mask);
          const uint8_t* dm = masked ? dptr<uint8_t>(MASK) : nullptr;

          std::vector<T> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C)), rstd(static_cast<size_t>(C)), rm_ref = rm, rv_ref = rv;
          const Tensor MEAN = poisoned<T>(C), VAR = poisoned<T>(C), RSTD = poisoned<T>(C), RM = to_gpu(rm),
                       RV = to_gpu(rv);
          int64_t nv = B * L;
          if (training) {
            nv = ref.stats(x.data(), pm, B, C, L, mean.data(), var.data());
            EXPECT_EQ(k.stats(dptr<T>(X), dm, B, C, L, dptr<T>(MEAN), dptr<T>(VAR)), nv);
            EXPECT_TRUE(close_to(MEAN, mean, tolerance<T>()));
            EXPECT_TRUE(close_to(VAR, var, tolerance<T>(10)));
            ref.update_running(mean.data(), var.data(), nv, T(0.1), C, rm_ref.data(), rv_ref.data());
            k.update_running(dptr<T>(MEAN), dptr<T>(VAR), nv, T(0.1), C, dptr<T>(RM), dptr<T>(RV));
            EXPECT_TRUE(close_to(RM, rm_ref, tolerance<T>()));
            EXPECT_TRUE(close_to(RV, rv_ref, tolerance<T>(10)));
            ref.rstd(var.data(), T(1e-5), C, rstd.data());
            k.rstd(dptr<T>(VAR), T(1e-5), C, dptr<T>(RSTD));
          } else {
            mean = rm;
            strided::copy(MEAN, RM);
            ref.rstd(rv.data(), T(1e-5), C, rstd.data());
            k.rstd(dptr<T>(RV), T(1e-5), C, dptr<T>(RSTD));
          }
          EXPECT_TRUE(close_to(RSTD, rstd, tolerance<T>(10)));
          // apply / backward from the reference statistics, so that they are checked on their own.
          const Tensor M2 = to_gpu(mean), S2 = to_gpu(rstd);
          std::vector<T> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n)), dw(static_cast<size_t>(C)), db(static_cast<size_t>(C));
          ref.apply(x.data(), mean.data(), rstd.data(), w.data(), b.data(), B, C, L, y.data());
          const Tensor Y = poisoned<T>(n);
          k.apply(dptr<T>(X), dptr<T>(M2), dptr<T>(S2), dptr<T>(W), dptr<T>(Bv), B, C, L, dptr<T>(Y));
          EXPECT_TRUE(close_to(Y, y, tolerance<T>()));
          ref.backward(dy.data(), x.data(), pm, w.data(), mean.data(), rstd.data(), training, nv, B, C, L, dx.data(),
                       dw.data(), db.data());
          const Tensor DX = poisoned<T>(n), DW = poisoned<T>(C), DB = poisoned<T>(C);
          k.backward(dptr<T>(DY), dptr<T>(X), dm, dptr<T>(W), dptr<T>(M2), dptr<T>(S2), training, nv, B, C, L,
                     dptr<T>(DX), dptr<T>(DW), dptr<T>(DB));
          // Sums of up to 6000 terms per channel.
          EXPECT_TRUE(close_to(DX, dx, tolerance<T>(10)));
          EXPECT_TRUE(close_to(DW, dw, tolerance<T>(10)));
          EXPECT_TRUE(close_to(DB, db, tolerance<T>(10)));
        }
  });
}

TEST(NormCuda, BatchNormConformance) {
  HM_SKIP_WITHOUT_CUDA();
  batch_norm_cuda_conformance<float>();
  batch_norm_cuda_conformance<double>();
}

// ---- the ops on the GPU vs the same ops on the CPU -----------------------------------------------------------------
// Runs f on CPU leaves and on GPU copies of them, backpropagates the same random upstream gradient through both, and
// compares the outputs and the gradient of every input that requires grad.
void expect_gpu_op_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                               const std::vector<Tensor>& cpu_inputs, double tol) {
  std::vector<Tensor> gpu_inputs;
  for (const Tensor& t : cpu_inputs) {
    if (!t.defined()) {
      gpu_inputs.push_back(t);
      continue;
    }
    Tensor g = t.detach().to(gpu());
    if (t.requires_grad()) g.requires_grad_(true);
    gpu_inputs.push_back(g);
  }
  const Tensor y_cpu = f(cpu_inputs), y_gpu = f(gpu_inputs);
  ASSERT_TRUE(y_gpu.is_cuda());
  EXPECT_TRUE(close_to(y_gpu.to_vector<double>(), y_cpu.to_vector<double>(), tol)) << "output";
  Generator gen(99);
  const Tensor gy = randn(y_cpu.shape(), y_cpu.dtype(), gen);
  y_cpu.backward(gy);
  y_gpu.backward(gy.to(gpu()));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].defined() || !cpu_inputs[i].requires_grad()) continue;
    ASSERT_TRUE(gpu_inputs[i].grad().defined()) << "no gradient reached GPU input " << i;
    EXPECT_TRUE(gpu_inputs[i].grad().is_cuda()) << "input " << i;
    EXPECT_TRUE(close_to(gpu_inputs[i].grad().to_vector<double>(), cpu_inputs[i].grad().to_vector<double>(), tol))
        << "gradient of input " << i;
  }
}

const DType kDtypes[] = {DType::f32, DType::f64};

double op_tolerance(DType dt) { return dt == DType::f32 ? 1e-4 : 1e-11; }

TEST(NormCuda, LayerNormOpMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : kDtypes)
    for (const Shape& shape : {Shape{2, 33, 769}, Shape{1, 7}, Shape{5, 1}}) {
      SCOPED_TRACE(shape_str(shape) + " " + dtype_name(dt));
      const int64_t C = shape.back();
      const Tensor x = randn_param(shape, 1, dt), w = randn_param({C}, 2, dt), b = randn_param({C}, 3, dt);
      expect_gpu_op_matches_cpu([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); },
                                {x, w, b}, op_tolerance(dt));
      const Tensor x2 = randn_param(shape, 4, dt);  // no affine
      expect_gpu_op_matches_cpu([](const std::vector<Tensor>& in) { return layer_norm(in[0]); }, {x2},
                                op_tolerance(dt));
    }
}

TEST(NormCuda, GroupNormOpMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : kDtypes)
    for (const GroupShape s : {GroupShape{2, 64, 100, 64}, GroupShape{3, 6, 7, 2}, GroupShape{1, 4, 33, 1}}) {
      SCOPED_TRACE("C=" + std::to_string(s.C) + " G=" + std::to_string(s.G) + " " + dtype_name(dt));
      const Tensor x = randn_param({s.B, s.C, s.L}, 5, dt), w = randn_param({s.C}, 6, dt), b = randn_param({s.C}, 7, dt);
      expect_gpu_op_matches_cpu(
          [G = s.G](const std::vector<Tensor>& in) { return group_norm(in[0], G, in[1], in[2]); }, {x, w, b},
          op_tolerance(dt));
    }
}

TEST(NormCuda, BatchNormOpMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : kDtypes)
    for (int masked = 0; masked < 2; ++masked)
      for (bool training : {true, false}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + (masked ? " masked" : "") + (training ? " training" : " eval"));
        const int64_t B = 4, C = 6, L = 37;
        const Tensor x = randn_param({B, C, L}, 8, dt), w = randn_param({C}, 9, dt), b = randn_param({C}, 10, dt);
        const Tensor mask = masked ? from_vector<uint8_t>(tail_mask(B, L), {B, L}) : Tensor();
        Generator gen(11);
        const Tensor rm = randn({C}, dt, gen), r = randn({C}, dt, gen);
        const Tensor rv = add(mul(r, r), 0.5);  // positive running variance
        // Each device updates its own running buffers in place; both must end equal.
        const Tensor rm_cpu = rm.clone(), rv_cpu = rv.clone(), rm_gpu = rm.to(gpu()), rv_gpu = rv.to(gpu());
        const Tensor mask_gpu = masked ? mask.to(gpu()) : Tensor();
        expect_gpu_op_matches_cpu(
            [&](const std::vector<Tensor>& in) {
              const bool on_gpu = in[0].is_cuda();
              return batch_norm(in[0], in[1], in[2], on_gpu ? rm_gpu : rm_cpu, on_gpu ? rv_gpu : rv_cpu, training,
                                0.1, 1e-5, on_gpu ? mask_gpu : mask);
            },
            {x, w, b}, op_tolerance(dt));
        EXPECT_TRUE(close_to(rm_gpu.to_vector<double>(), rm_cpu.to_vector<double>(), op_tolerance(dt)));
        EXPECT_TRUE(close_to(rv_gpu.to_vector<double>(), rv_cpu.to_vector<double>(), op_tolerance(dt)));
      }
}

TEST(NormCuda, BadInput) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = randn_param({2, 4, 5}, 1, DType::f32).detach().to(gpu());
  const Tensor w_cpu = full({5}, 1.0), w4_cpu = full({4}, 1.0);
  EXPECT_TRUE(throws_with([&] { layer_norm(x, w_cpu); }, "layer_norm: weight is on cpu"));
  EXPECT_TRUE(throws_with([&] { group_norm(x, 2, w4_cpu); }, "group_norm: weight is on cpu"));
  EXPECT_TRUE(throws_with([&] { batch_norm(x, Tensor(), Tensor(), w4_cpu, w4_cpu, true); },
                          "batch_norm: running_mean is on cpu"));
  const Tensor mask_cpu = zeros({2, 5}, DType::u8);
  EXPECT_TRUE(throws_with([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, mask_cpu); },
                          "batch_norm: padding mask is on cpu"));
  const Tensor xb = x.to(DType::bf16);
  EXPECT_TRUE(throws_with([&] { layer_norm(xb); }, "expected a float32 or float64 tensor, got bfloat16"));
  EXPECT_TRUE(throws_with([&] { group_norm(xb, 2); }, "expected a float32 or float64 tensor, got bfloat16"));
  EXPECT_TRUE(throws_with([&] { batch_norm(xb, Tensor(), Tensor(), Tensor(), Tensor(), true); },
                          "expected a float32 or float64 tensor, got bfloat16"));
}

}  // namespace
}  // namespace hm::test
