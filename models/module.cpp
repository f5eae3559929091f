#include "models/module.h"

#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/strided.h"

namespace hm {

void Module::register_parameter(const std::string& name, Tensor* t) {
  check(t && t->defined(), "register_parameter: '", name, "' is undefined");
  for (const auto& [n, p] : params_) check(n != name, "register_parameter: '", name, "' registered twice");
  if (!t->requires_grad()) t->requires_grad_(true);
  params_.emplace_back(name, t);
}

void Module::register_buffer(const std::string& name, Tensor* t) {
  check(t && t->defined(), "register_buffer: '", name, "' is undefined");
  buffers_.emplace_back(name, t);
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, *t);
  // A child registered under "" contributes its names at this level (mamba_ssm's flat Mamba block names).
  for (const auto& [n, child] : children_) child->collect(n.empty() ? prefix : prefix + n + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& b : named_buffers()) out.push_back(std::move(b));
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  NamedTensors mine = state_dict();
  std::map<std::string, Tensor> given;
  for (const auto& [n, t] : state) given[n] = t;
  std::vector<std::string> problems;
  std::set<std::string> used;
  for (auto& [name, dst] : mine) {
    auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back("missing " + name + " " + shape_str(dst.shape()));
      continue;
    }
    used.insert(name);
    const Tensor& src = it->second;
    if (src.shape() != dst.shape()) {
      problems.push_back(cat("shape of ", name, ": checkpoint ", src.shape(), ", model ", dst.shape()));
      continue;
    }
    if (src.dtype() != dst.dtype() && !(is_floating(src.dtype()) && is_floating(dst.dtype()))) {
      problems.push_back(cat("dtype of ", name, ": checkpoint ", src.dtype(), ", model ", dst.dtype()));
      continue;
    }
  }
  for (const auto& [n, t] : state)
    if (!used.count(n)) problems.push_back("unexpected " + n + " " + shape_str(t.shape()));
  if (strict && !problems.empty()) {
    std::ostringstream os;
    os << "load_state_dict: " << problems.size() << " mismatch(es) between checkpoint and model:";
    for (const auto& p : problems) os << "\n  " << p;
    throw Error(os.str());
  }
  NoGradGuard ng;
  for (auto& [name, dst] : mine) {
    auto it = given.find(name);
    if (it == given.end() || it->second.shape() != dst.shape()) continue;
    strided::copy(dst.detach(), it->second.detach());
  }
}

void Module::to(Device device) {
  NoGradGuard ng;
  for (auto& [n, t] : params_) {
    if (!t->defined() || t->device() == device) continue;
    const bool trainable = t->requires_grad();
    *t = t->to(device).detach();
    if (trainable) t->requires_grad_(true);
  }
  for (auto& [n, t] : buffers_)
    if (t->defined() && t->device() != device) *t = t->to(device).detach();
  for (auto& [n, child] : children_) child->to(device);
}

Device Module::device() const {
  for (const auto& [n, t] : params_)
    if (t->defined()) return t->device();
  for (const auto& [n, child] : children_)
    if (!child->named_parameters().empty()) return child->device();
  return Device::cpu();
}

void Module::train(bool on) {
  training_ = on;
  on_train_mode(on);
  for (auto& [n, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [n, t] : params_) t->zero_grad();
  for (auto& [n, child] : children_) child->zero_grad();
}

}  // namespace hm
