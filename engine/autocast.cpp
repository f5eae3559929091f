#include "engine/autocast.h"

namespace hm {
namespace {
thread_local bool g_enabled = false;
thread_local DType g_dtype = DType::bf16;
}  // namespace

bool autocast_enabled() { return g_enabled; }
DType autocast_dtype() { return g_dtype; }

AutocastGuard::AutocastGuard(bool enabled, DType dtype) : prev_enabled_(g_enabled), prev_dtype_(g_dtype) {
  check(dtype == DType::bf16 || dtype == DType::f16, "AutocastGuard: autocast dtype must be bf16 or f16, got ", dtype);
  g_enabled = enabled;
  g_dtype = dtype;
}

AutocastGuard::~AutocastGuard() {
  g_enabled = prev_enabled_;
  g_dtype = prev_dtype_;
}

}  // namespace hm
