// Two registries that make the test suite self-checking (DESIGN.md 3):
//
// 1. Kernel variants. Every hot op owns a KernelTable of named implementations ("scalar" reference, "highway",
//    later "cuda_*"). The variant used at run time is the highest-priority registered one unless overridden by
//    `--kernel op=variant` / HUBMAMBA_KERNELS="op=variant,op2=variant". The conformance test runs every variant
//    against "scalar"; the kernel bench times them all. Adding a variant = one file + one registration line.
//
// 2. Differentiable ops. Each op family registers the names of its differentiable ops; a test fails when a name
//    has no float64 gradient check (tests call expect_gradcheck("name", ...)).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"

namespace hm {

// Variant overrides: "op=variant,op2=variant2". Throws on malformed text.
void set_kernel_overrides(const std::string& spec);
// Drop every override (back to the highest-priority variants).
void clear_kernel_overrides();
// The override for `op`, or "" when none.
std::string kernel_override(const std::string& op);

struct KernelTableBase {
  virtual ~KernelTableBase() = default;
  virtual const std::string& op() const = 0;
  virtual std::vector<std::string> variants() const = 0;
  virtual std::string selected() const = 0;
};

// All kernel tables, for the conformance test, the bench and `hubmamba bench --list`.
std::vector<KernelTableBase*>& kernel_tables();

template <class Fn>
class KernelTable : public KernelTableBase {
 public:
  explicit KernelTable(std::string op) : op_(std::move(op)) { kernel_tables().push_back(this); }
  KernelTable(const KernelTable&) = delete;
  KernelTable& operator=(const KernelTable&) = delete;

  // Higher priority wins by default; "scalar" should use 0.
  void add(const std::string& variant, Fn fn, int priority) {
    check(entries_.find(variant) == entries_.end(), "kernel table ", op_, ": variant ", variant,
          " registered twice");
    entries_[variant] = {fn, priority};
  }
  const std::string& op() const override { return op_; }
  std::vector<std::string> variants() const override {
    std::vector<std::string> v;
    for (const auto& [name, e] : entries_) v.push_back(name);
    return v;
  }
  std::string selected() const override {
    const std::string o = kernel_override(op_);
    if (!o.empty()) {
      check(entries_.count(o) != 0, "kernel override ", op_, "=", o, ": no such variant (have: ", list(), ")");
      return o;
    }
    check(!entries_.empty(), "kernel table ", op_, " has no variants registered");
    std::string best;
    int best_priority = -1;
    for (const auto& [name, e] : entries_)
      if (e.priority > best_priority) best = name, best_priority = e.priority;
    return best;
  }
  Fn get() const { return get(selected()); }
  Fn get(const std::string& variant) const {
    auto it = entries_.find(variant);
    check(it != entries_.end(), "kernel table ", op_, ": no variant '", variant, "' (have: ", list(), ")");
    return it->second.fn;
  }

 private:
  std::string list() const {
    std::string s;
    for (const auto& [name, e] : entries_) s += (s.empty() ? "" : ", ") + name;
    return s;
  }
  struct Entry {
    Fn fn;
    int priority;
  };
  std::string op_;
  std::map<std::string, Entry> entries_;
};

// Names of differentiable ops, registered by the op families (static OpRegistrar objects in ops/*.cpp).
std::vector<std::string>& differentiable_ops();
struct OpRegistrar {
  OpRegistrar(std::initializer_list<const char*> names);
};

}  // namespace hm
