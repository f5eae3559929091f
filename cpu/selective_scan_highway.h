// Highway (SIMD, dynamic dispatch) + OpenMP selective scans: the `highway` (SIMD over the state index n) and
// `highway_channels` (SIMD over channels d) variants of the `selective_scan` kernel table. Same contract as
// cpu/selective_scan_scalar.h; the implementation notes are at the top of each .cpp.
#pragma once
#include <cstdint>

#include "cpu/selective_scan_scalar.h"

namespace hm::cpu {

// Time steps per recompute chunk: the forward saves the state at the end of every chunk but the last, the
// backward recomputes one chunk's states from its saved start state.
inline constexpr int64_t kScanChunk = 64;
// Channels per backward work item. dB and dC (B, N, L) are sums over channels; each work item (b, channel group)
// accumulates its own partial and the partials are added in group order, so the result does not depend on the
// thread count.
inline constexpr int64_t kScanChannelGroup = 64;
// Recompute chunk of the `highway_channels` variant (its per-step recompute buffers are N x lanes wide).
inline constexpr int64_t kChannelsChunk = 32;

}  // namespace hm::cpu

namespace hm::cpu::highway {

void selective_scan_forward_f32(const ScanInputs<float>& in, float* out, float* last_state, float* checkpoints);
void selective_scan_forward_f64(const ScanInputs<double>& in, double* out, double* last_state, double* checkpoints);
void selective_scan_backward_f32(const ScanInputs<float>& in, const float* dout, const float* dlast,
                                 const float* checkpoints, const ScanGrads<float>& grads);
void selective_scan_backward_f64(const ScanInputs<double>& in, const double* dout, const double* dlast,
                                 const double* checkpoints, const ScanGrads<double>& grads);
// (B, D, ceil(L / kScanChunk) - 1, N): one saved state per chunk boundary.
int64_t selective_scan_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N);

}  // namespace hm::cpu::highway

namespace hm::cpu::highway_channels {

void selective_scan_forward_f32(const ScanInputs<float>& in, float* out, float* last_state, float* checkpoints);
void selective_scan_forward_f64(const ScanInputs<double>& in, double* out, double* last_state, double* checkpoints);
void selective_scan_backward_f32(const ScanInputs<float>& in, const float* dout, const float* dlast,
                                 const float* checkpoints, const ScanGrads<float>& grads);
void selective_scan_backward_f64(const ScanInputs<double>& in, const double* dout, const double* dlast,
                                 const double* checkpoints, const ScanGrads<double>& grads);
// (B, D, ceil(L / kChannelsChunk) - 1, N).
int64_t selective_scan_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N);

}  // namespace hm::cpu::highway_channels
