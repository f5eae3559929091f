// A small JSON value, parser and writer: model/run configs, safetensors headers, metrics (JSONL) and reports.
// Parse errors name the source (file name) and the line:column.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hm {

class Json {
 public:
  enum class Type { null, boolean, number, string, array, object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // keeps insertion order

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::boolean), bool_(b) {}
  Json(double x) : type_(Type::number), num_(x) {}
  Json(int x) : type_(Type::number), num_(x) {}
  Json(int64_t x) : type_(Type::number), num_(double(x)) {}
  Json(uint64_t x) : type_(Type::number), num_(double(x)) {}
  Json(const char* s) : type_(Type::string), str_(s) {}
  Json(std::string s) : type_(Type::string), str_(std::move(s)) {}
  static Json array(Array a = {});
  static Json object(Object o = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::null; }
  bool is_number() const { return type_ == Type::number; }
  bool is_string() const { return type_ == Type::string; }
  bool is_object() const { return type_ == Type::object; }
  bool is_array() const { return type_ == Type::array; }

  // Typed access; `what` names the field in error messages ("config.encoder.layers").
  bool as_bool(const std::string& what = "value") const;
  double as_number(const std::string& what = "value") const;
  int64_t as_int(const std::string& what = "value") const;  // must be an integral number
  const std::string& as_string(const std::string& what = "value") const;
  const Array& as_array(const std::string& what = "value") const;
  const Object& as_object(const std::string& what = "value") const;

  // Objects.
  bool contains(const std::string& key) const;
  const Json& at(const std::string& key) const;  // throws naming the missing key
  Json& operator[](const std::string& key);      // inserts null when absent (object or null -> object)
  // Arrays.
  void push_back(Json v);
  size_t size() const;
  const Json& operator[](size_t i) const;

  std::string dump(int indent = -1) const;  // indent < 0: compact one line
  // Throws hm::Error "<source>:<line>:<col>: <problem>".
  static Json parse(const std::string& text, const std::string& source = "<json>");
  static Json parse_file(const std::string& path);

 private:
  void dump_to(std::string& out, int indent, int depth) const;
  Type type_ = Type::null;
  bool bool_ = false;
  double num_ = 0;
  std::string str_;
  std::shared_ptr<Array> arr_;
  std::shared_ptr<Object> obj_;
};

}  // namespace hm
