// Module: a node in a model tree with named parameters (trainable leaves), buffers (running statistics) and
// submodules, train/eval mode, and state-dict save/load with every mismatch reported at once (DESIGN.md 5).
// Names compose with dots: "encoder.layers.0.attention.q_proj.weight" (torchaudio's HuBERT naming).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tensor.h"

namespace hm {

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;  // recursive, registration order
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;        // parameters then buffers
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;

  // Copies values into the existing tensors (so references held by optimisers stay valid). With strict, every
  // missing, unexpected, mis-shaped or mis-typed entry is listed in one error. Floating values are converted to
  // the parameter dtype (f32 checkpoints into f64 models, bf16-stored weights, ...).
  void load_state_dict(const NamedTensors& state, bool strict = true);

  // Move every parameter and buffer to `device` (values copied; parameters stay trainable leaves). Create
  // optimisers after the move: they hold the tensors, not the module.
  void to(Device device);
  Device device() const;  // of the first parameter (cpu for a module without any)

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

 protected:
  // Register a member tensor. The module keeps a pointer to it: members must outlive the module's use, which
  // holds as modules are created with std::make_shared and never moved.
  void register_parameter(const std::string& name, Tensor* t);
  void register_buffer(const std::string& name, Tensor* t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  // Hook for modules whose behaviour depends on the mode (dropout, batch norm).
  virtual void on_train_mode(bool /*training*/) {}

 private:
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  std::vector<std::pair<std::string, Tensor*>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace hm
