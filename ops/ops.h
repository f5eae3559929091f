// All op families. Include this to get every differentiable op (free functions in namespace hm).
#pragma once
#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "ops/linear.h"
#include "ops/shape.h"
#include "ops/conv.h"
#include "ops/attention.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/random_ops.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
