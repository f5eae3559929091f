// All op families. Include this to get every differentiable op (free functions in namespace hm).
#pragma once
#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/selective_scan.h"
