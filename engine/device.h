// Device backends: how the engine reaches memory that is not host memory (DESIGN.md 1, 2).
//
// The engine knows no CUDA. The dispatch layer (ops/device_cuda.cpp, compiled only with -DHUBMAMBA_CUDA=ON)
// registers a DeviceBackend built from cuda/ functions at static-initialisation time. Storage allocates through
// it, and the layout-generic loops the engine itself needs (engine/strided.h: copy, fill, add_inplace, sum_to) call
// it for device tensors, so views, contiguous(), dtype conversion, gradient accumulation and broadcast-gradient
// reduction work on every device without the engine mentioning one. Without a backend (a CPU-only build) every
// attempt to create a device tensor throws one clear error.
#pragma once
#include <cstddef>

#include "engine/allocator.h"
#include "engine/dtype.h"

namespace hm {

class Tensor;

struct DeviceBackend {
  const char* name = "";
  bool (*available)() = nullptr;                        // a usable device is present (never throws)
  void* (*allocate)(size_t nbytes) = nullptr;           // caching; throws on failure, never returns null
  void (*deallocate)(void* ptr, size_t nbytes) = nullptr;
  void (*copy_from_host)(void* dst, const void* src, size_t nbytes) = nullptr;  // stream-ordered
  void (*copy_to_host)(void* dst, const void* src, size_t nbytes) = nullptr;    // returns when dst is written
  // Tensor-level loops over tensors on this device (any strides, same shapes; copy converts dtypes).
  void (*copy)(const Tensor& dst, const Tensor& src) = nullptr;
  void (*fill)(const Tensor& dst, double value) = nullptr;
  void (*add_inplace)(const Tensor& dst, const Tensor& src) = nullptr;
  // out (contiguous, zero-initialised, same rank as src with 1 where summed) += sum of src over those dims.
  void (*sum_to)(const Tensor& out, const Tensor& src) = nullptr;
  AllocatorStats (*stats)() = nullptr;
  void (*synchronize)() = nullptr;
};

void register_device_backend(DeviceType type, const DeviceBackend& backend);
// The backend for `d`; throws when the build has none ("built without CUDA") or no such device is present.
const DeviceBackend& device_backend(Device d);
// True when a backend for `type` is registered and a device is present (never throws).
bool device_available(DeviceType type);

}  // namespace hm
