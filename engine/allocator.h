// CPU caching allocator: 64-byte aligned blocks (one cache line / one AVX-512 vector), freed blocks kept in
// size-bucketed free lists and reused, so a training step allocates nothing from the OS in the steady state.
// Reports live ("current"), peak and cached bytes (DESIGN.md 2).
#pragma once
#include <cstddef>
#include <cstdint>

namespace hm {

struct AllocatorStats {
  size_t current_bytes = 0;  // bytes handed out and not yet returned
  size_t peak_bytes = 0;     // max of current_bytes since start / last reset_peak()
  size_t cached_bytes = 0;   // bytes held in free lists
  uint64_t os_allocations = 0;  // calls that reached aligned_alloc (cache misses)
  uint64_t allocations = 0;     // all allocate() calls
};

namespace cpu_allocator {
constexpr size_t kAlignment = 64;
void* allocate(size_t nbytes);          // never returns null (throws hm::Error on OOM); nbytes may be 0
void deallocate(void* ptr, size_t nbytes);
AllocatorStats stats();
void reset_peak();
void empty_cache();                     // return every cached block to the OS
size_t rounded_size(size_t nbytes);     // the block size actually reserved for a request
}  // namespace cpu_allocator

}  // namespace hm
