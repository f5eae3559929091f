// Mamba mixers (SPEC.md 3): the unidirectional block of state-spaces/mamba, and the two bidirectional variants
// of "Mamba in Speech" (ExtBiMamba: two blocks, outputs concatenated and merged; InnBiMamba: shared in/out
// projections, per-direction conv/x_proj/dt_proj/A/D as in Vision Mamba "v2").
//
// Sequences are (B, L, d_model). `lengths` (B,) (may be empty) marks valid frames: the backward direction then
// reverses each utterance inside its own length, and padded frames are zeroed before each scan, unless
// `faithful_padding` reproduces the original (plain flip of the padded batch, padding left in).
#pragma once
#include <vector>

#include "models/layers.h"

namespace hm {

struct MambaDims {
  int64_t d_model, d_state = 16, d_conv = 4, expand = 2;
  int64_t d_inner() const { return expand * d_model; }
  int64_t dt_rank() const { return (d_model + 15) / 16; }  // ceil(d_model / 16)
};

// The per-direction part of a Mamba block: depthwise causal conv, x_proj, dt_proj, A_log, D.
class MambaScanBranch : public Module {
 public:
  MambaScanBranch(const MambaDims& dims, Generator& gen, DType dtype);
  // x, z: (B, d_inner, L) -> y (B, d_inner, L) = selective_scan(silu(conv(x)), ...) gated by silu(z).
  Tensor forward(const Tensor& x, const Tensor& z) const;
  void reinit_dt_proj_bert(Generator& gen);  // fairseq's init_bert_params applied to dt_proj (SPEC.md 3)
  std::shared_ptr<Conv1d> conv1d;
  std::shared_ptr<Linear> x_proj, dt_proj;
  Tensor A_log, D;  // (d_inner, d_state), (d_inner,)
  MambaDims dims;
};

// state-spaces/mamba `Mamba`: in_proj -> branch -> out_proj. Parameter names follow mamba_ssm
// (in_proj.weight, conv1d.weight, conv1d.bias, x_proj.weight, dt_proj.weight, dt_proj.bias, A_log, D,
// out_proj.weight).
class MambaBlock : public Module {
 public:
  MambaBlock(const MambaDims& dims, Generator& gen, DType dtype);
  Tensor forward(const Tensor& h) const;  // (B, L, d_model) -> (B, L, d_model)
  void init_bert(Generator& gen, bool reinit_dt_proj);
  std::shared_ptr<Linear> in_proj, out_proj;
  std::shared_ptr<MambaScanBranch> branch;
  MambaDims dims;

 private:
  friend class InnBiMamba;
};

// Reverse each sequence of x (B, L, C) in time inside its valid length (plain flip when lengths is empty or
// `faithful` is set). Padded frames stay where they are.
Tensor flip_within_lengths(const Tensor& x, const std::vector<int64_t>& lengths, bool faithful);
// Zero the frames t >= lengths[b] of x (B, L, C). No-op when lengths is empty.
Tensor zero_padding(const Tensor& x, const std::vector<int64_t>& lengths);

class ExtBiMamba : public Module {
 public:
  ExtBiMamba(const MambaDims& dims, Generator& gen, DType dtype);
  Tensor forward(const Tensor& x, const std::vector<int64_t>& lengths, bool faithful_padding) const;
  void init_bert(Generator& gen, bool reinit_dt_proj);
  std::shared_ptr<MambaBlock> mamba_fwd, mamba_bwd;
  std::shared_ptr<Linear> output_proj;  // Linear(2d -> d, bias)
};

class InnBiMamba : public Module {
 public:
  InnBiMamba(const MambaDims& dims, Generator& gen, DType dtype);
  Tensor forward(const Tensor& x, const std::vector<int64_t>& lengths, bool faithful_padding) const;
  void init_bert(Generator& gen, bool reinit_dt_proj);
  std::shared_ptr<Linear> in_proj, out_proj;
  std::shared_ptr<MambaScanBranch> branch_f, branch_b;
  MambaDims dims;
};

}  // namespace hm
