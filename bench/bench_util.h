// Helpers the benchmarks share: medians, the load average printed next to timings (other jobs on the cores
// explain noisy numbers), the Python baseline scripts run as subprocesses in the same invocation, and a Google
// Benchmark reporter that remembers each benchmark's median for the ratio tables.
#pragma once
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"

namespace hm::bench {

inline double median(std::vector<double> v) {
  check(!v.empty(), "median of no values");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// "1-min 5-min 15-min" from /proc/loadavg.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// "1,2" -> {1, 2} (the --threads lists).
inline std::vector<int> parse_int_list(const std::string& list) {
  std::vector<int> out;
  std::stringstream ss(list);
  for (std::string t; std::getline(ss, t, ',');) out.push_back(std::stoi(t));
  return out;
}

// The number after "key": in a one-line JSON object (enough for the baseline scripts' output).
inline double json_number(const std::string& json, const std::string& key) {
  const size_t p = json.find("\"" + key + "\":");
  check(p != std::string::npos, "baseline output lacks ", key, ": ", json);
  return std::strtod(json.c_str() + p + key.size() + 3, nullptr);
}

// The full path of bench/<name> (the baseline scripts live next to this header).
inline std::string bench_file(const std::string& name) {
#ifdef HM_BENCH_SOURCE_DIR
  // The source tree configured by CMake (__FILE__ can be a path relative to a cache's base directory).
  return std::string(HM_BENCH_SOURCE_DIR) + "/bench/" + name;
#else
  return (std::filesystem::path(__FILE__).parent_path() / name).string();
#endif
}

// Standard output of `/usr/bin/python3 <script> <args>` (stderr passes through), or nothing when the script
// cannot be started or exits with an error. HUBMAMBA_PYTHON picks another interpreter (the GPU machine's PyTorch
// lives in its own python3; tools/gpu_check.sh sets it).
inline std::optional<std::string> python_output(const std::string& script, const std::string& args) {
  const char* python = std::getenv("HUBMAMBA_PYTHON");
  const std::string cmd = std::string(python && *python ? python : "/usr/bin/python3") + " " + script + " " + args;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  if (pclose(pipe) != 0) return std::nullopt;
  return out;
}

// `name value` lines (e.g. "stem0_fwd 12.5" from pytorch_conv.py) -> name -> value.
inline std::map<std::string, double> name_values(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string name;
  for (double v; in >> name >> v;) out[name] = v;
  return out;
}

// Captures the median of each benchmark (in the benchmark's time unit) while printing the usual console table.
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  struct Median {
    double real = 0, cpu = 0;  // wall time, process CPU time
  };
  std::map<std::string, Median> medians;  // benchmark name -> median
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median")
        medians[r.run_name.function_name] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace hm::bench
