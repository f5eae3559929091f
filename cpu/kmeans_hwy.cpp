// Highway (dynamic dispatch) part of the k-means kernels: the argmin over centres that follows the GEMM.
// For k = 100 it costs as much as the GEMM itself when done one float at a time (measured: ~1.4-2.3 ms vs
// ~1.3-2.7 ms per 10,000-row batch), so it runs a vector of centres at a time here.
// clang-format off: foreach_target.h must follow the HWY_TARGET_INCLUDE definition, highway.h must follow it.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/kmeans_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format on

#include <climits>
#include <cstdint>

#include "cpu/kmeans.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// For rows i of g (rows, k) = x . c^T: labels[i] = argmin_j (c_sq[j] - 2 g[i, j]) (first j on ties) and
// best[i] = that value. Lane l tracks the centres j = l (mod lanes) with a strict '<', so it keeps its first
// minimum; the cross-lane reduction takes the smallest value and, among equal ones, the smallest index.
void ArgminRows(const float* HWY_RESTRICT g, int64_t rows, int64_t k, const float* HWY_RESTRICT c_sq,
                int32_t* HWY_RESTRICT labels, float* HWY_RESTRICT best) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto two = hn::Set(df, 2.0f);
  const auto step = hn::Set(di, int32_t(N));
  const auto no_index = hn::Set(di, INT32_MAX);
  for (int64_t i = 0; i < rows; ++i) {
    const float* gi = g + i * k;  // (k,)
    float bv;
    int32_t bi;
    int64_t j = 0;
    if (k >= N) {
      auto vbest = hn::NegMulAdd(two, hn::LoadU(df, gi), hn::LoadU(df, c_sq));  // c_sq - 2 g, exact 2 g
      auto vidx = hn::Iota(di, 0);
      auto cur = vidx;
      for (j = N; j + N <= k; j += N) {
        cur = hn::Add(cur, step);
        const auto v = hn::NegMulAdd(two, hn::LoadU(df, gi + j), hn::LoadU(df, c_sq + j));
        const auto lt = hn::Lt(v, vbest);
        vbest = hn::IfThenElse(lt, v, vbest);
        vidx = hn::IfThenElse(hn::RebindMask(di, lt), cur, vidx);
      }
      const auto vmin = hn::MinOfLanes(df, vbest);
      const auto at_min = hn::RebindMask(di, hn::Eq(vbest, vmin));
      bv = hn::GetLane(vmin);
      bi = hn::GetLane(hn::MinOfLanes(di, hn::IfThenElse(at_min, vidx, no_index)));
    } else {
      bv = c_sq[0] - 2.0f * gi[0];
      bi = 0;
      j = 1;
    }
    for (; j < k; ++j) {  // tail (indices above every vector lane's, so '<' keeps the first minimum)
      const float v = c_sq[j] - 2.0f * gi[j];
      if (v < bv) bv = v, bi = int32_t(j);
    }
    labels[i] = bi;
    best[i] = bv;
  }
}

}  // namespace hm::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu {
HWY_EXPORT(ArgminRows);

void argmin_rows(const float* g, int64_t rows, int64_t k, const float* c_sq, int32_t* labels, float* best) {
  HWY_DYNAMIC_DISPATCH(ArgminRows)(g, rows, k, c_sq, labels, best);
}
}  // namespace hm::cpu
#endif
