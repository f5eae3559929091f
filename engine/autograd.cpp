#include "engine/autograd.h"

#include <unordered_map>

#include "engine/strided.h"

namespace hm {
namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->next.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    if (t.grad_fn()) {
      node->next[i].fn = t.grad_fn();
      node->next[i].output_nr = t.unsafe_impl()->output_nr;
    } else {
      node->next[i].leaf = t.impl_ptr();
    }
  }
  node->fn = std::move(fn);
  for (size_t k = 0; k < outputs.size(); ++k) {
    TensorImpl* o = outputs[k].unsafe_impl();
    check(o->grad_fn == nullptr, name, ": output ", k, " already has a grad_fn (", o->grad_fn ? o->grad_fn->name : "",
          ")");
    o->grad_fn = node;
    o->output_nr = int(k);
    o->requires_grad = true;
    node->outputs.push_back({o->shape, o->dtype, o->storage->device()});
  }
}

void accumulate_grad(TensorImpl& leaf, const Tensor& g) {
  check(g.shape() == leaf.shape, "backward: gradient of shape ", g.shape(), " for a leaf of shape ", leaf.shape);
  check(g.dtype() == leaf.dtype, "backward: gradient of dtype ", g.dtype(), " for a leaf of dtype ", leaf.dtype);
  check(g.device() == leaf.storage->device(), "backward: gradient on ", g.device(), " for a leaf on ",
        leaf.storage->device());
  if (!leaf.grad) {
    Tensor copy = empty(g.shape(), g.dtype(), g.device());
    strided::copy(copy, g);
    leaf.grad = copy.impl_ptr();
  } else {
    strided::add_inplace(Tensor(leaf.grad), g);
  }
}

namespace {

// Sum gradient contributions for one output slot of a node.
void add_into(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  Tensor sum = empty(slot.shape(), slot.dtype(), slot.device());
  strided::copy(sum, slot);
  strided::add_inplace(sum, g);
  slot = sum;
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  check(roots.size() == grads.size(), "backward: ", roots.size(), " roots but ", grads.size(), " gradients");
  NoGradGuard no_grad;  // backward functions build plain tensors; no higher-order gradients

  std::unordered_map<Node*, std::vector<Tensor>> pending;  // node -> summed grad per output
  std::vector<std::shared_ptr<Node>> root_nodes;
  for (size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    check(root.defined(), "backward: called on an undefined tensor");
    check(root.requires_grad(), "backward: tensor of shape ", root.shape(),
          " does not require grad and has no grad_fn (did every input have requires_grad=false, or was it "
          "computed under NoGradGuard?)");
    Tensor seed = grads[r];
    if (!seed.defined()) {
      check(root.numel() == 1, "backward: grad can be implicitly created only for one-element outputs; got shape ",
            root.shape(), " (pass grad_output)");
      seed = ones(root.shape(), root.dtype(), root.device());
    }
    check(seed.shape() == root.shape(), "backward: grad_output shape ", seed.shape(), " does not match output ",
          root.shape());
    if (!root.grad_fn()) {
      accumulate_grad(*root.unsafe_impl(), seed);
      continue;
    }
    Node* n = root.grad_fn().get();
    auto& slots = pending[n];
    slots.resize(n->outputs.size());
    add_into(slots[root.unsafe_impl()->output_nr], seed);
    root_nodes.push_back(root.grad_fn());
  }

  // Dependency counts: how many consumer edges point at each node inside the reachable graph.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack;
  std::unordered_map<Node*, bool> seen;
  for (auto& n : root_nodes)
    if (!seen[n.get()]) {
      seen[n.get()] = true;
      stack.push_back(n.get());
    }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.fn) continue;
      deps[e.fn.get()]++;
      if (!seen[e.fn.get()]) {
        seen[e.fn.get()] = true;
        stack.push_back(e.fn.get());
      }
    }
  }

  std::vector<Node*> ready;
  for (auto& n : root_nodes)
    if (deps[n.get()] == 0 && std::find(ready.begin(), ready.end(), n.get()) == ready.end()) ready.push_back(n.get());

  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    check(!n->released, "backward: trying to backward through the graph a second time (the saved context of '",
          n->name, "' was already freed); call backward(grad, /*retain_graph=*/true) the first time");
    std::vector<Tensor> gout = std::move(pending[n]);
    pending.erase(n);
    gout.resize(n->outputs.size());
    for (size_t k = 0; k < gout.size(); ++k)
      if (!gout[k].defined()) gout[k] = zeros(n->outputs[k].shape, n->outputs[k].dtype, n->outputs[k].device);
    std::vector<bool> needs(n->next.size());
    for (size_t i = 0; i < n->next.size(); ++i) needs[i] = n->next[i].needed();
    std::vector<Tensor> gin = n->fn(gout, needs);
    check(gin.size() == n->next.size(), "backward of '", n->name, "' returned ", gin.size(), " gradients for ",
          n->next.size(), " inputs");
    if (!retain_graph) {
      n->fn = nullptr;
      n->released = true;
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      if (!e.needed()) continue;
      if (e.leaf) {
        if (gin[i].defined()) accumulate_grad(*e.leaf, gin[i]);
        continue;
      }
      Node* p = e.fn.get();
      if (gin[i].defined()) {
        const OutputMeta& meta = p->outputs[e.output_nr];
        check(gin[i].shape() == meta.shape, "backward of '", n->name, "': gradient for input ", i, " has shape ",
              gin[i].shape(), " but '", p->name, "' produced ", meta.shape);
        auto& slots = pending[p];
        slots.resize(p->outputs.size());
        add_into(slots[e.output_nr], gin[i]);
      }
      if (--deps[p] == 0) ready.push_back(p);
    }
  }
}

}  // namespace hm
