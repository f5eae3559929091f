#pragma once
#include <type_traits>
#include "cuda_bf16.h"
// WMMA 16x16x16: every lane holds the whole tile; each operation is warp-collective (barriers at entry and exit).
namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  float x[256];
};
inline float tof(float v) { return v; }
inline float tof(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class U, class T, class L>
void fill_fragment(fragment<U, 16, 16, 16, T, L>& f, float v) {
  warp_wait();
  for (int i = 0; i < 256; ++i) f.x[i] = v;
  warp_wait();
}
template <class U, class T, class L, class P>
void load_matrix_sync(fragment<U, 16, 16, 16, T, L>& f, const P* p, unsigned ldm) {
  warp_wait();
  if (reinterpret_cast<uintptr_t>(p) % 32) std::abort();  // 256-bit alignment
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      f.x[r * 16 + c] = std::is_same_v<L, col_major> ? tof(p[c * ldm + r]) : tof(p[r * ldm + c]);
  warp_wait();
}
template <class T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T, void>& f, const float* p, unsigned ldm, layout_t) {
  warp_wait();
  if (reinterpret_cast<uintptr_t>(p) % 32) std::abort();
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.x[r * 16 + c] = p[r * ldm + c];
  warp_wait();
}
template <class T>
void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, T, void>& f, unsigned ldm, layout_t) {
  warp_wait();
  if (reinterpret_cast<uintptr_t>(p) % 32) std::abort();
  if (threadIdx.x % 32 == 0)
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) p[r * ldm + c] = f.x[r * 16 + c];
  warp_wait();
}
template <class TA, class LA, class TB, class LB, class TC>
void mma_sync(fragment<accumulator, 16, 16, 16, TC, void>& d, const fragment<matrix_a, 16, 16, 16, TA, LA>& a,
              const fragment<matrix_b, 16, 16, 16, TB, LB>& b, const fragment<accumulator, 16, 16, 16, TC, void>& c) {
  warp_wait();
  float out[256];
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 16; ++n) {
      float s = c.x[m * 16 + n];
      for (int k = 0; k < 16; ++k) s += a.x[m * 16 + k] * b.x[k * 16 + n];
      out[m * 16 + n] = s;
    }
  std::memcpy(d.x, out, sizeof out);
  warp_wait();
}
}  // namespace nvcuda
