// Error reporting: every failed check throws hm::Error with a message that names the op, shapes and dtypes
// involved (DESIGN.md 8). The CLI turns these into one line and a non-zero exit.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <cstdint>
#include <ostream>

namespace hm {

// Shapes print as (2, 3); declared here so that cat() below finds it (defined in engine/tensor.cpp).
std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& shape);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Concatenate any streamable values into one string.
template <class... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

// check(cond, "op: ", shape, " vs ", other) throws hm::Error with the concatenated message when cond is false.
// The message parts are only formatted on failure.
template <class... Parts>
inline void check(bool cond, Parts&&... parts) {
  if (!cond) [[unlikely]]
    throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace hm
