// Reverse-mode tape (DESIGN.md 2; anchors: micrograd's topological sweep, flashlight's Variable).
//
// An op whose inputs require grad records a Node: edges to the producers of its inputs, and a backward function
// whose lambda captures the op's saved context (only what backward needs). Tensor::backward() orders the graph
// reachable from the root topologically, calls each node's backward once with the summed gradients of its
// outputs, and accumulates (+=) into the .grad of leaves. Without retain_graph each node's saved context is
// released after use; a second sweep through it throws.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace hm {

// Gradient of each output (undefined tensors are replaced by zeros before the call) -> gradient of each input
// (return an undefined Tensor for inputs whose needs_grad flag is false).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs,
                                                     const std::vector<bool>& needs_grad)>;

struct Edge {
  std::shared_ptr<Node> fn;          // producer node, or
  std::shared_ptr<TensorImpl> leaf;  // a leaf that accumulates into .grad, or neither (no gradient needed)
  int output_nr = 0;
  bool needed() const { return fn != nullptr || leaf != nullptr; }
};

struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

struct Node {
  std::string name;                  // op name, used in error messages and graph dumps
  std::vector<Edge> next;            // one per differentiable input
  std::vector<OutputMeta> outputs;   // one per output
  BackwardFn fn;                     // empty once released
  bool released = false;
};

// Thread-local grad mode. NoGradGuard disables recording in its scope (inference, optimiser updates, backward).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and at least one of the tensors requires grad.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Record `outputs` as produced by op `name` from `inputs`. Does nothing when no input requires grad (or in
// no-grad mode), so ops may call it unconditionally after building their outputs; building the saved context
// is cheap (shared_ptr copies) when they do. Inputs may contain undefined tensors (optional arguments).
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn);

// Sweep from several roots at once (grads[i] seeds roots[i]).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

// Accumulate g into t.grad (+=); used by backward and by gradient accumulation in training loops.
void accumulate_grad(TensorImpl& leaf, const Tensor& g);

}  // namespace hm
