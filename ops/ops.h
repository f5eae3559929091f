// All op families. Include this to get every differentiable op (free functions in namespace hm).
#pragma once
#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/glu.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/similarity.h"
