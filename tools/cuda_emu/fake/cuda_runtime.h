#pragma once
// Stand-in for the CUDA header of this name under tools/cuda_emu (see emu.h).
#include "emu.h"
