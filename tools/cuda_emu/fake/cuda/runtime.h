#pragma once
// Stand-in for hubmamba's cuda/runtime.h under the emulation: host malloc for scratch, no stream.
#include <cstdlib>
#include "cuda_runtime.h"
#include "engine/error.h"
namespace hm::cuda {
using hm::check;
inline cudaStream_t stream() { return nullptr; }
inline void check(cudaError_t e, const char* what) { if (e != cudaSuccess) throw hm::Error(what); }
inline void check_launch(const char*) {}
inline void* scratch(size_t n) { return std::malloc(n ? n : 1); }
inline void release(void* p, size_t) { std::free(p); }
}  // namespace hm::cuda
