// safetensors checkpoints (https://github.com/huggingface/safetensors format): 8-byte little-endian header length,
// a JSON header {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Own implementation; no dependency.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace hm {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Write atomically: temp file, fsync, rename, so an interrupted save leaves the previous file intact.
// `store_as` converts floating tensors on the way out (f32 -> bf16/f16 for small checkpoints); std::nullopt
// keeps each tensor's dtype.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {}, DType store_floats_as = DType::f32,
                      bool convert_floats = false);

struct SafetensorsContents {
  NamedTensors tensors;  // in file order; bf16/f16 tensors are widened to f32
  std::map<std::string, std::string> metadata;
  std::map<std::string, DType> stored_dtypes;  // the dtype each tensor had in the file
};
// Throws hm::Error naming the file for missing/truncated/corrupt files, bad offsets or unknown dtypes.
SafetensorsContents load_safetensors(const std::string& path);

// Conversions used for bf16/f16 storage (round to nearest even; NaN stays NaN).
uint16_t float_to_bf16(float x);
float bf16_to_float(uint16_t x);
uint16_t float_to_f16(float x);
float f16_to_float(uint16_t x);

}  // namespace hm
