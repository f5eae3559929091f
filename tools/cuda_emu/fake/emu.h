// CPU emulation of the CUDA subset used by the attention kernels: one std::thread per CUDA thread, std::barrier for
// __syncthreads / warp-collective operations (shuffles, WMMA), blocks run one after another.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
using std::exp;
using std::fma;
using std::fmax;
using std::log;
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint4 {
  unsigned x, y, z, w;
};
typedef int cudaError_t;
constexpr int cudaSuccess = 0;
typedef void* cudaStream_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
template <class K>
cudaError_t cudaFuncSetAttribute(K, cudaFuncAttribute, int bytes) {
  if (bytes > 227 * 1024) std::abort();  // the H100's opt-in limit
  return cudaSuccess;
}
namespace emu {
struct Block {
  std::vector<unsigned char> dyn_storage;
  unsigned char* dyn = nullptr;
  std::unique_ptr<std::barrier<>> bar;
  std::vector<std::unique_ptr<std::barrier<>>> warp;
  std::vector<double> shfl;
  std::mutex mu;
  std::vector<std::vector<unsigned char>> statics;
};
inline thread_local Block* blk = nullptr;
inline thread_local size_t static_idx = 0;
}  // namespace emu
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
inline void __syncthreads() { emu::blk->bar->arrive_and_wait(); }
inline void warp_wait() { emu::blk->warp[threadIdx.x / 32]->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { warp_wait(); }
template <class T>
T __shfl_xor_sync(unsigned, T v, int o) {
  auto& s = emu::blk->shfl;
  s[threadIdx.x] = double(v);
  warp_wait();
  const T r = T(s[(threadIdx.x & ~31u) | ((threadIdx.x % 32) ^ unsigned(o))]);
  warp_wait();
  return r;
}
inline uint32_t __umulhi(uint32_t a, uint32_t b) { return uint32_t((uint64_t(a) * b) >> 32); }
namespace emu {
inline unsigned char* dynamic_shared() { return blk->dyn; }
template <class T>
T* static_shared(size_t n) {
  const size_t i = static_idx++;
  std::lock_guard<std::mutex> g(blk->mu);
  while (blk->statics.size() <= i) blk->statics.emplace_back(n * sizeof(T), 0xFF);
  return reinterpret_cast<T*>(blk->statics[i].data());
}
template <class K>
auto launch(K kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t = nullptr) {
  return [=](auto... args) {
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          Block b;
          b.dyn_storage.assign(smem + 128, 0xFF);  // NaN garbage: reading unwritten shared memory shows
          b.dyn = b.dyn_storage.data() + (128 - reinterpret_cast<uintptr_t>(b.dyn_storage.data()) % 128);
          const unsigned n = block.x;
          b.bar = std::make_unique<std::barrier<>>(n);
          for (unsigned w = 0; w * 32 < n; ++w) b.warp.push_back(std::make_unique<std::barrier<>>(std::min(32u, n - w * 32)));
          b.shfl.assign(n, 0.0);
          std::vector<std::thread> ts;
          for (unsigned t = 0; t < n; ++t)
            ts.emplace_back([&, t] {
              threadIdx = dim3(t), blockIdx = dim3(bx, by, bz), blockDim = block, gridDim = grid;
              blk = &b;
              static_idx = 0;
              kernel(args...);
              b.bar->arrive_and_drop();
              b.warp[t / 32]->arrive_and_drop();
            });
          for (auto& th : ts) th.join();
        }
  };
}
}  // namespace emu
