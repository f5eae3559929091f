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

#include "engine/dtype.h"
#include "engine/error.h"

namespace hm {

// Variant overrides: "op=variant,op2=variant2". Throws on malformed text.
void set_kernel_overrides(const std::string& spec);
// Drop every override (back to the highest-priority variants).
void clear_kernel_overrides();
// The override for `op`, or "" when none.
std::string kernel_override(const std::string& op);

// A kernel table belongs to one device. CPU tables must hold a "scalar" reference variant; a CUDA table (name
// "<op>@cuda", variants "cuda_*") is checked against the CPU table's scalar variant. An override op=variant applies
// to the table of the op that has that variant, so `--kernel selective_scan=scalar` picks the CPU reference and
// `--kernel selective_scan=cuda_sequential` the simple CUDA kernel; a variant that no table of the op has is an error.
struct KernelTableBase {
  virtual ~KernelTableBase() = default;
  virtual const std::string& op() const = 0;
  virtual DeviceType device() const = 0;
  // "op" for CPU tables, "op@cuda" for CUDA tables (listings, conformance markers).
  std::string name() const { return device() == DeviceType::cpu ? op() : op() + "@cuda"; }
  virtual bool has(const std::string& variant) const = 0;
  virtual std::vector<std::string> variants() const = 0;
  virtual std::string selected() const = 0;
};

// All kernel tables, for the conformance test, the bench and `hubmamba bench --list`.
std::vector<KernelTableBase*>& kernel_tables();
// True when another table of `op` (another device) has `variant`: the override is meant for that table.
bool override_belongs_elsewhere(const std::string& op, const std::string& variant, const KernelTableBase* self);
// Every variant of every table of `op`, "a, b, c" (error messages).
std::string all_variants(const std::string& op);

template <class Fn>
class KernelTable : public KernelTableBase {
 public:
  explicit KernelTable(std::string op, DeviceType device = DeviceType::cpu) : op_(std::move(op)), device_(device) {
    kernel_tables().push_back(this);
  }
  KernelTable(const KernelTable&) = delete;
  KernelTable& operator=(const KernelTable&) = delete;

  // Higher priority wins by default; "scalar" should use 0.
  void add(const std::string& variant, Fn fn, int priority) {
    check(entries_.find(variant) == entries_.end(), "kernel table ", op_, ": variant ", variant,
          " registered twice");
    entries_[variant] = {fn, priority};
  }
  const std::string& op() const override { return op_; }
  DeviceType device() const override { return device_; }
  bool has(const std::string& variant) const override { return entries_.count(variant) != 0; }
  std::vector<std::string> variants() const override {
    std::vector<std::string> v;
    for (const auto& [name, e] : entries_) v.push_back(name);
    return v;
  }
  std::string selected() const override {
    const std::string o = kernel_override(op_);
    if (!o.empty()) {
      if (entries_.count(o) != 0) return o;
      check(override_belongs_elsewhere(op_, o, this), "kernel override ", op_, "=", o,
            ": no such variant (have: ", all_variants(op_), ")");
    }
    check(!entries_.empty(), "kernel table ", name(), " has no variants registered");
    std::string best;
    int best_priority = -1;
    for (const auto& [name, e] : entries_)
      if (e.priority > best_priority) best = name, best_priority = e.priority;
    return best;
  }
  Fn get() const { return get(selected()); }
  Fn get(const std::string& variant) const {
    auto it = entries_.find(variant);
    check(it != entries_.end(), "kernel table ", name(), ": no variant '", variant, "' (have: ", list(), ")");
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
  DeviceType device_;
  std::map<std::string, Entry> entries_;
};

// Names of differentiable ops, registered by the op families (static OpRegistrar objects in ops/*.cpp).
std::vector<std::string>& differentiable_ops();
struct OpRegistrar {
  OpRegistrar(std::initializer_list<const char*> names);
};

}  // namespace hm
