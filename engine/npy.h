// NumPy .npy read/write (format version 1.0/2.0, C order, little-endian; f32, f64, i32, i64, u8). Arrays that
// leave the program (features, hidden states, MI inputs, test fixtures) use this format (DESIGN.md 5).
#pragma once
#include <string>

#include "engine/tensor.h"

namespace hm {

// Throws hm::Error naming the file on a missing/corrupt/unsupported file.
Tensor load_npy(const std::string& path);
// Writes atomically (temp file + rename) so a crash never leaves a half-written array under the final name.
void save_npy(const std::string& path, const Tensor& t);

}  // namespace hm
