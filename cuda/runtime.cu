#include "cuda/runtime.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "engine/error.h"

namespace hm::cuda {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) [[unlikely]]
    throw Error(cat("CUDA error in ", what, ": ", cudaGetErrorName(e), ": ", cudaGetErrorString(e)));
}

bool sync_mode() {
  static const bool on = [] {
    const char* v = std::getenv("HUBMAMBA_CUDA_SYNC");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}

void check_launch(const char* kernel) {
  check(cudaGetLastError(), kernel);
  if (sync_mode()) check(cudaStreamSynchronize(stream()), kernel);
}

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device" error so later checks are not confused by it
      return 0;
    }
    return n;
  }();
  return count;
}

bool available() { return device_count() > 0; }

int sm_count() {
  static const int n = [] {
    int v = 0;
    check(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0), "cudaDeviceGetAttribute(SM count)");
    return v;
  }();
  return n;
}

size_t max_shared_per_block() {
  static const size_t n = [] {
    int v = 0;
    check(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0),
          "cudaDeviceGetAttribute(max shared memory per block)");
    return size_t(v);
  }();
  return n;
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    check(available() ? cudaSuccess : cudaErrorNoDevice, "hm::cuda::stream (no usable GPU)");
    cudaStream_t created = nullptr;
    check(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return created;
  }();
  return s;
}

void synchronize() { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

namespace {

struct AllocatorState {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  AllocatorStats stats;
};

AllocatorState& allocator() {
  static AllocatorState* s = new AllocatorState();  // leaked on purpose: tensors may die during static destruction
  return *s;
}

size_t rounded(size_t n) {
  if (n <= (size_t(1) << 20)) return (n + 511) / 512 * 512 + (n == 0 ? 512 : 0);
  size_t p = 1;
  while (p * 2 <= n) p *= 2;
  const size_t step = p / 8;
  return (n + step - 1) / step * step;
}

void free_cached_locked(AllocatorState& s) {
  // The blocks may still be read by queued kernels: finish the stream before handing memory back to the driver.
  cudaStreamSynchronize(stream());
  for (auto& [size, p] : s.free_blocks) cudaFree(p);
  s.free_blocks.clear();
  s.stats.cached_bytes = 0;
}

}  // namespace

void* scratch(size_t nbytes) {
  const size_t size = rounded(nbytes);
  AllocatorState& s = allocator();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.allocations++;
  void* p = nullptr;
  auto it = s.free_blocks.find(size);
  if (it != s.free_blocks.end()) {
    p = it->second;
    s.free_blocks.erase(it);
    s.stats.cached_bytes -= size;
  } else {
    (void)stream();  // creates the stream (and checks for a device) before the first allocation
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      free_cached_locked(s);
      e = cudaMalloc(&p, size);
    }
    check(e, cat("cudaMalloc of ", nbytes, " bytes (", s.stats.current_bytes, " in use, peak ",
                 s.stats.peak_bytes, ")").c_str());
    s.stats.os_allocations++;
  }
  s.stats.current_bytes += size;
  if (s.stats.current_bytes > s.stats.peak_bytes) s.stats.peak_bytes = s.stats.current_bytes;
  return p;
}

void release(void* ptr, size_t nbytes) {
  if (ptr == nullptr) return;
  const size_t size = rounded(nbytes);
  AllocatorState& s = allocator();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.free_blocks.emplace(size, ptr);
  s.stats.current_bytes -= size;
  s.stats.cached_bytes += size;
}

AllocatorStats allocator_stats() {
  AllocatorState& s = allocator();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.stats;
}

void reset_peak() {
  AllocatorState& s = allocator();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.peak_bytes = s.stats.current_bytes;
}

void empty_cache() {
  AllocatorState& s = allocator();
  std::lock_guard<std::mutex> lock(s.mutex);
  free_cached_locked(s);
}

void copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync(device->host)");
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize after a device->host copy");
}

void copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  // From pageable host memory the call returns once the source has been staged, so the caller may free it.
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync(host->device)");
}

void copy_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()), "cudaMemcpyAsync(device->device)");
}

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  const int64_t cap = int64_t(available() ? sm_count() : 1) * 32;
  return unsigned(blocks < 1 ? 1 : (blocks < cap ? blocks : cap));
}

}  // namespace hm::cuda
