#include "engine/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include "engine/error.h"

namespace hm::cpu_allocator {
namespace {

// Cached blocks beyond this many bytes are returned to the OS instead of being kept.
constexpr size_t kMaxCachedBytes = size_t(4) << 30;

struct State {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  AllocatorStats stats;
};

State& state() {
  static State* s = new State();  // intentionally leaked: tensors may be freed during static destruction
  return *s;
}

}  // namespace

// Small blocks round up to 64 bytes; larger ones to 1/8 of their power-of-two range so that slightly different
// sizes (e.g. cropped batches) reuse the same blocks without wasting more than 12.5 %.
size_t rounded_size(size_t n) {
  if (n <= 4096) return (n + kAlignment - 1) / kAlignment * kAlignment + (n == 0 ? kAlignment : 0);
  size_t p = 1;
  while (p * 2 <= n) p *= 2;
  const size_t step = p / 8;
  return (n + step - 1) / step * step;
}

void* allocate(size_t nbytes) {
  const size_t size = rounded_size(nbytes);
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.stats.allocations++;
    auto it = s.free_blocks.find(size);
    if (it != s.free_blocks.end()) {
      void* p = it->second;
      s.free_blocks.erase(it);
      s.stats.cached_bytes -= size;
      s.stats.current_bytes += size;
      if (s.stats.current_bytes > s.stats.peak_bytes) s.stats.peak_bytes = s.stats.current_bytes;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p) {
    empty_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  check(p != nullptr, "cpu allocator: out of memory allocating ", nbytes, " bytes");
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.os_allocations++;
  s.stats.current_bytes += size;
  if (s.stats.current_bytes > s.stats.peak_bytes) s.stats.peak_bytes = s.stats.current_bytes;
  return p;
}

void deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  const size_t size = rounded_size(nbytes);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.current_bytes -= size;
  if (s.stats.cached_bytes + size > kMaxCachedBytes) {
    std::free(ptr);
    return;
  }
  s.free_blocks.emplace(size, ptr);
  s.stats.cached_bytes += size;
}

AllocatorStats stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.stats;
}

void reset_peak() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.stats.peak_bytes = s.stats.current_bytes;
}

void empty_cache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  for (auto& [size, p] : s.free_blocks) std::free(p);
  s.free_blocks.clear();
  s.stats.cached_bytes = 0;
}

}  // namespace hm::cpu_allocator
