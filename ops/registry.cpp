#include "ops/registry.h"

#include <cstdlib>
#include <mutex>
#include <sstream>

namespace hm {
namespace {

std::map<std::string, std::string>& overrides() {
  static std::map<std::string, std::string> m = [] {
    std::map<std::string, std::string> init;
    return init;
  }();
  return m;
}

void parse_into(const std::string& spec, std::map<std::string, std::string>& out) {
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    check(eq != std::string::npos && eq > 0 && eq + 1 < item.size(), "kernel override '", item,
          "': expected op=variant (e.g. selective_scan=scalar)");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
}

std::once_flag g_env_once;

}  // namespace

void set_kernel_overrides(const std::string& spec) { parse_into(spec, overrides()); }

void clear_kernel_overrides() {
  kernel_override("");  // make sure HUBMAMBA_KERNELS was read, so it is not applied after the clear
  overrides().clear();
}

std::string kernel_override(const std::string& op) {
  std::call_once(g_env_once, [] {
    if (const char* env = std::getenv("HUBMAMBA_KERNELS"); env && *env) parse_into(env, overrides());
  });
  auto it = overrides().find(op);
  return it == overrides().end() ? std::string() : it->second;
}

std::vector<KernelTableBase*>& kernel_tables() {
  static std::vector<KernelTableBase*> tables;
  return tables;
}

bool override_belongs_elsewhere(const std::string& op, const std::string& variant, const KernelTableBase* self) {
  for (const KernelTableBase* t : kernel_tables())
    if (t != self && t->op() == op && t->has(variant)) return true;
  return false;
}

std::string all_variants(const std::string& op) {
  std::string s;
  for (const KernelTableBase* t : kernel_tables())
    if (t->op() == op)
      for (const std::string& v : t->variants()) s += (s.empty() ? "" : ", ") + v;
  return s;
}

std::vector<std::string>& differentiable_ops() {
  static std::vector<std::string> ops;
  return ops;
}

OpRegistrar::OpRegistrar(std::initializer_list<const char*> names) {
  for (const char* n : names) differentiable_ops().push_back(n);
}

}  // namespace hm
