// CUDA runtime plumbing shared by every kernel family (issue 8 "device plumbing"): the one compute stream, error
// checking on every runtime call and after every launch, and the caching device allocator.
//
// Plain C++ header (no __global__): included from .cu files and from the dispatch layer (ops/*_cuda.cpp).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "engine/allocator.h"
#include "engine/error.h"

namespace hm::cuda {

using hm::check;  // keep hm::check(cond, message...) visible beside the overload below

// Throws hm::Error "CUDA error in <what>: <name>: <description>" unless e == cudaSuccess. Use on every call.
void check(cudaError_t e, const char* what);

// Call right after every kernel launch: reports launch errors (bad configuration, ...) naming `kernel`. With the
// environment variable HUBMAMBA_CUDA_SYNC=1 it also synchronises the stream, so that an asynchronous fault (an
// illegal address, ...) is reported by the kernel that caused it rather than by a later call.
void check_launch(const char* kernel);
bool sync_mode();  // HUBMAMBA_CUDA_SYNC=1

// A usable GPU is present (the first call initialises the runtime; never throws).
bool available();
int device_count();
int sm_count();                   // multiprocessors of device 0
size_t max_shared_per_block();    // opt-in limit (cudaDevAttrMaxSharedMemoryPerBlockOptin)

// The single stream every kernel, copy and library call (cuBLAS, cuDNN) of hubmamba runs on. One stream keeps
// the caching allocator simple and safe: a freed block can be reused by the next kernel without events, because
// work on one stream runs in order (the rule PyTorch's allocator applies per stream).
cudaStream_t stream();
void synchronize();  // waits for the stream

// Caching allocator: blocks come from cudaMalloc once and are kept in size-bucketed free lists (rounded like the
// CPU allocator: 512-byte granularity for small blocks, 1/8 of the power-of-two range for large ones), so the
// steady state of a training step performs no cudaMalloc. On an out-of-memory the cache is emptied and the
// allocation retried once. 256-byte aligned (cudaMalloc's guarantee).
void* scratch(size_t nbytes);
void release(void* ptr, size_t nbytes);
AllocatorStats allocator_stats();
void reset_peak();
void empty_cache();

// Host <-> device copies on stream(). to_host returns once the bytes have arrived.
void copy_to_host(void* dst, const void* src, size_t nbytes);
void copy_from_host(void* dst, const void* src, size_t nbytes);
void copy_device(void* dst, const void* src, size_t nbytes);

// Grid size for a grid-stride loop over n elements with `threads` per block (capped at a few waves).
unsigned grid_for(int64_t n, int threads);

}  // namespace hm::cuda
