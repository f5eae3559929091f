#include "engine/device.h"

#include "engine/error.h"

namespace hm {
namespace {

// One slot per DeviceType; index 0 (cpu) stays empty because host memory needs no backend.
DeviceBackend* backends() {
  static DeviceBackend table[2];
  return table;
}

}  // namespace

void register_device_backend(DeviceType type, const DeviceBackend& backend) {
  check(type != DeviceType::cpu, "register_device_backend: the CPU needs no backend");
  backends()[int(type)] = backend;
}

bool device_available(DeviceType type) {
  if (type == DeviceType::cpu) return true;
  const DeviceBackend& b = backends()[int(type)];
  return b.available != nullptr && b.available();
}

const DeviceBackend& device_backend(Device d) {
  check(d.type != DeviceType::cpu, "device_backend: ", d, " is host memory");
  const DeviceBackend& b = backends()[int(d.type)];
  check(b.available != nullptr, "device ", d,
        " requested but this hubmamba was built without its backend (configure with -DHUBMAMBA_CUDA=ON and nvcc)");
  check(d.index == 0, "device ", d, ": one device per process is supported; choose it with CUDA_VISIBLE_DEVICES");
  check(b.available(), "device ", d, " requested but no usable ", b.name,
        " device is present (no GPU, or the driver failed to initialise)");
  return b;
}

}  // namespace hm
