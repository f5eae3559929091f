// Thread control for the CPU backend: OpenMP for our loops, OpenBLAS's own pool for GEMM. One setting drives both
// (`--threads N` / HUBMAMBA_THREADS); benchmarks set it explicitly.
#pragma once
#include <omp.h>

#include <cstdint>

namespace hm::cpu {

// Apply HUBMAMBA_THREADS if set (called once at start-up by the CLI and the tests); returns the thread count.
int init_threads_from_env();
void set_num_threads(int n);  // n >= 1
int num_threads();

// Run f(begin, end) over [0, n) split into contiguous chunks across threads; serial when n * cost_per_item is
// small (cost in rough "flops"), so tiny tensors do not pay thread start-up.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  constexpr int64_t kSerialBelow = 32768;
  if (n <= 1 || n * cost_per_item < kSerialBelow) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t b = t * chunk, e = b + chunk < n ? b + chunk : n;
    if (b < e) f(b, e);
  }
}

}  // namespace hm::cpu
