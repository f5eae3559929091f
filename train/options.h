// Run options declared once: a config struct provides `template <class F> static void visit(Config&, F&&)` that
// calls f(name, field, help) for every field (std::string, int64_t, uint64_t, double or bool). From it come the
// JSON form (run configs, checkpoints), the CLI flags with --help text, and "defaults <- --config JSON <- flags"
// parsing with errors that name the field.
#pragma once
#include <algorithm>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/json.h"
#include "train/cli.h"

namespace hm::options {

template <class Config>
Json to_json(const Config& c_in) {
  Config c = c_in;
  Json j = Json::object();
  Config::visit(c, [&](const char* k, auto& v, const char*) {
    using V = std::remove_reference_t<decltype(v)>;
    if constexpr (std::is_same_v<V, uint64_t>) j[k] = Json(int64_t(v));
    else j[k] = v;
  });
  return j;
}

template <class Config>
Config from_json(const Json& j, const std::string& source) {
  Config c;
  std::vector<std::string> known;
  Config::visit(c, [&](const char* k, auto&, const char*) { known.push_back(k); });
  for (const auto& [k, v] : j.as_object(source))
    check(std::find(known.begin(), known.end(), k) != known.end(), source, ": unknown field '", k, "'");
  Config::visit(c, [&](const char* k, auto& v, const char*) {
    if (!j.contains(k)) return;
    const std::string where = source + "." + k;
    using V = std::remove_reference_t<decltype(v)>;
    if constexpr (std::is_same_v<V, std::string>) v = j.at(k).as_string(where);
    else if constexpr (std::is_same_v<V, bool>) v = j.at(k).as_bool(where);
    else if constexpr (std::is_same_v<V, double>) v = j.at(k).as_number(where);
    else v = V(j.at(k).as_int(where));
  });
  return c;
}

template <class Config>
void add_to_args(cli::Args& args) {
  args.option("config", "", "JSON run config (keys as the long options below); explicit flags win");
  Config defaults;
  Config::visit(defaults, [&](const char* k, auto& v, const char* help) {
    using V = std::remove_reference_t<decltype(v)>;
    if constexpr (std::is_same_v<V, bool>) {
      args.flag(k, help);
    } else if constexpr (std::is_same_v<V, std::string>) {
      args.option(k, v, help);
    } else {
      std::ostringstream os;
      os << v;
      args.option(k, os.str(), help);
    }
  });
}

template <class Config>
Config from_args(const cli::Args& args) {
  Config c;
  if (!args.str("config").empty()) c = from_json<Config>(Json::parse_file(args.str("config")), args.str("config"));
  Config::visit(c, [&](const char* k, auto& v, const char*) {
    if (!args.given(k)) return;
    using V = std::remove_reference_t<decltype(v)>;
    if constexpr (std::is_same_v<V, bool>) v = args.on(k);
    else if constexpr (std::is_same_v<V, std::string>) v = args.str(k);
    else if constexpr (std::is_same_v<V, double>) v = args.real(k);
    else v = V(args.integer(k));
  });
  return c;
}

}  // namespace hm::options
