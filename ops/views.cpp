// The view operations themselves live in engine/ (they only move metadata); they are registered here as
// differentiable ops so the coverage test demands their gradient checks (tests/test_engine.cpp).
#include "ops/registry.h"

namespace hm {
namespace {
const OpRegistrar kViewOps{"reshape", "permute", "slice", "flip", "expand", "squeeze", "clone", "to"};
}
}  // namespace hm
