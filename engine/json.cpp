#include "engine/json.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace hm {

namespace {
const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::null: return "null";
    case Json::Type::boolean: return "a boolean";
    case Json::Type::number: return "a number";
    case Json::Type::string: return "a string";
    case Json::Type::array: return "an array";
    case Json::Type::object: return "an object";
  }
  return "?";
}
}  // namespace

Json Json::array(Array a) {
  Json j;
  j.type_ = Type::array;
  j.arr_ = std::make_shared<Array>(std::move(a));
  return j;
}

Json Json::object(Object o) {
  Json j;
  j.type_ = Type::object;
  j.obj_ = std::make_shared<Object>(std::move(o));
  return j;
}

bool Json::as_bool(const std::string& what) const {
  check(type_ == Type::boolean, what, ": expected a boolean, got ", type_name(type_));
  return bool_;
}
double Json::as_number(const std::string& what) const {
  check(type_ == Type::number, what, ": expected a number, got ", type_name(type_));
  return num_;
}
int64_t Json::as_int(const std::string& what) const {
  const double x = as_number(what);
  check(std::floor(x) == x && std::abs(x) < 9.0e15, what, ": expected an integer, got ", x);
  return int64_t(x);
}
const std::string& Json::as_string(const std::string& what) const {
  check(type_ == Type::string, what, ": expected a string, got ", type_name(type_));
  return str_;
}
const Json::Array& Json::as_array(const std::string& what) const {
  check(type_ == Type::array, what, ": expected an array, got ", type_name(type_));
  return *arr_;
}
const Json::Object& Json::as_object(const std::string& what) const {
  check(type_ == Type::object, what, ": expected an object, got ", type_name(type_));
  return *obj_;
}

bool Json::contains(const std::string& key) const {
  if (type_ != Type::object) return false;
  for (const auto& [k, v] : *obj_)
    if (k == key) return true;
  return false;
}

const Json& Json::at(const std::string& key) const {
  for (const auto& [k, v] : as_object("json lookup of '" + key + "'"))
    if (k == key) return v;
  throw Error(cat("missing field '", key, "'"));
}

Json& Json::operator[](const std::string& key) {
  if (type_ == Type::null) *this = object();
  check(type_ == Type::object, "json: cannot index ", type_name(type_), " with key '", key, "'");
  for (auto& [k, v] : *obj_)
    if (k == key) return v;
  obj_->emplace_back(key, Json());
  return obj_->back().second;
}

void Json::push_back(Json v) {
  if (type_ == Type::null) *this = array();
  check(type_ == Type::array, "json: push_back on ", type_name(type_));
  arr_->push_back(std::move(v));
}

size_t Json::size() const {
  if (type_ == Type::array) return arr_->size();
  if (type_ == Type::object) return obj_->size();
  return 0;
}

const Json& Json::operator[](size_t i) const {
  const Array& a = as_array("json index");
  check(i < a.size(), "json: index ", i, " out of range for an array of ", a.size());
  return a[i];
}

namespace {

void escape_into(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(char(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

void Json::dump_to(std::string& out, int indent, int depth) const {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out.push_back('\n');
    out.append(size_t(indent * d), ' ');
  };
  switch (type_) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += bool_ ? "true" : "false"; break;
    case Type::number: {
      if (!std::isfinite(num_)) {
        out += "null";  // JSON has no NaN/Inf
      } else if (std::floor(num_) == num_ && std::abs(num_) < 1e15) {
        out += std::to_string(int64_t(num_));
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", num_);
        out += buf;
      }
      break;
    }
    case Type::string: escape_into(out, str_); break;
    case Type::array: {
      out.push_back('[');
      for (size_t i = 0; i < arr_->size(); ++i) {
        if (i) out.push_back(',');
        newline(depth + 1);
        (*arr_)[i].dump_to(out, indent, depth + 1);
      }
      if (!arr_->empty()) newline(depth);
      out.push_back(']');
      break;
    }
    case Type::object: {
      out.push_back('{');
      for (size_t i = 0; i < obj_->size(); ++i) {
        if (i) out.push_back(',');
        newline(depth + 1);
        escape_into(out, (*obj_)[i].first);
        out += indent < 0 ? ":" : ": ";
        (*obj_)[i].second.dump_to(out, indent, depth + 1);
      }
      if (!obj_->empty()) newline(depth);
      out.push_back('}');
      break;
    }
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

namespace {

class Parser {
 public:
  Parser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Json parse_document() {
    Json v = value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') line++, col = 1;
      else col++;
    }
    throw Error(cat(source_, ":", line, ":", col, ": ", what));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) pos_++;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      pos_++;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(cat("expected '", c, "'"));
  }
  Json value(int depth) {
    if (depth > 200) fail("nesting too deep");
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    const char c = s_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Json(string());
    if (s_.compare(pos_, 4, "true") == 0) return pos_ += 4, Json(true);
    if (s_.compare(pos_, 5, "false") == 0) return pos_ += 5, Json(false);
    if (s_.compare(pos_, 4, "null") == 0) return pos_ += 4, Json();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail(cat("unexpected character '", c, "'"));
  }
  Json number() {
    const char* begin = s_.c_str() + pos_;
    char* end = nullptr;
    const double x = std::strtod(begin, &end);
    if (end == begin) fail("bad number");
    pos_ += size_t(end - begin);
    return Json(x);
  }
  std::string string() {
    pos_++;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) fail("bad \\u escape");
          const unsigned cp = unsigned(std::stoul(s_.substr(pos_, 4), nullptr, 16));
          pos_ += 4;
          // UTF-8 encode (basic multilingual plane; surrogate pairs are kept as two code units).
          if (cp < 0x80) {
            out.push_back(char(cp));
          } else if (cp < 0x800) {
            out.push_back(char(0xC0 | (cp >> 6)));
            out.push_back(char(0x80 | (cp & 0x3F)));
          } else {
            out.push_back(char(0xE0 | (cp >> 12)));
            out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(char(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default: fail(cat("bad escape '\\", e, "'"));
      }
    }
  }
  Json array(int depth) {
    pos_++;
    Json a = Json::array();
    if (eat(']')) return a;
    do a.push_back(value(depth + 1));
    while (eat(','));
    expect(']');
    return a;
  }
  Json object(int depth) {
    pos_++;
    Json o = Json::object();
    if (eat('}')) return o;
    do {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a quoted key");
      std::string key = string();
      if (o.contains(key)) fail(cat("duplicate key '", key, "'"));
      expect(':');
      o[key] = value(depth + 1);
    } while (eat(','));
    expect('}');
    return o;
  }

  const std::string& s_;
  const std::string& source_;
  size_t pos_ = 0;
};

}  // namespace

Json Json::parse(const std::string& text, const std::string& source) { return Parser(text, source).parse_document(); }

Json Json::parse_file(const std::string& path) {
  std::ifstream in(path);
  check(in.good(), path, ": cannot open JSON file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

}  // namespace hm
