// A small JSON writer for reports (metrics.json, tokenizer stats, ablation tables). Values
// are written as they are added; keys keep their insertion order.
//
//   json_writer j;
//   j.begin_object().key("model").value("tiger").key("recall@10").value(0.0712).end_object();
//   io::write_file_atomic(path, j.str());
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "reg4rec/core/error.hpp"

namespace reg4rec::io {

class json_writer {
 public:
  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  json_writer& key(std::string_view k) {
    require(!stack_.empty() && stack_.back().bracket == '{', "json_writer: key outside an object");
    comma();
    quoted(k);
    out_ += indent_ ? ": " : ":";
    after_key_ = true;
    return *this;
  }
  json_writer& value(std::string_view s) {
    item();
    quoted(s);
    return *this;
  }
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(const std::string& s) { return value(std::string_view(s)); }
  json_writer& value(bool b) {
    item();
    out_ += b ? "true" : "false";
    return *this;
  }
  json_writer& value(double x) {
    item();
    if (!std::isfinite(x)) {
      out_ += "null";  // JSON has no NaN/Inf
    } else {
      char b[32];
      std::snprintf(b, sizeof b, "%.10g", x);
      out_ += b;
    }
    return *this;
  }
  json_writer& value(float x) { return value(static_cast<double>(x)); }
  template <class I, class = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
  json_writer& value(I x) {
    item();
    out_ += std::to_string(x);
    return *this;
  }
  json_writer& null() {
    item();
    out_ += "null";
    return *this;
  }
  /// Writes a key and a value in one call.
  template <class V>
  json_writer& field(std::string_view k, const V& v) {
    key(k);
    return value(v);
  }

  /// The document (checks that every object and array is closed).
  const std::string& str() const {
    require(stack_.empty(), "json_writer: unclosed object or array");
    return out_;
  }

  /// Pretty-print with two-space indentation (default) or compact.
  explicit json_writer(bool pretty = true) : indent_(pretty) {}

 private:
  struct level {
    char bracket;
    bool first;
  };
  void newline() {
    if (!indent_) return;
    out_ += '\n';
    out_.append(2 * stack_.size(), ' ');
  }
  void comma() {
    if (stack_.empty()) return;
    if (!stack_.back().first) out_ += ',';
    stack_.back().first = false;
    newline();
  }
  void item() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    require(stack_.empty() || stack_.back().bracket == '[', "json_writer: value without a key inside an object");
    comma();
  }
  json_writer& open(char b) {
    item();
    out_ += b;
    stack_.push_back({b, true});
    return *this;
  }
  json_writer& close(char b) {
    require(!stack_.empty() && stack_.back().bracket == (b == '}' ? '{' : '['), "json_writer: unbalanced ", b);
    const bool empty = stack_.back().first;
    stack_.pop_back();
    if (!empty) newline();
    out_ += b;
    return *this;
  }
  void quoted(std::string_view s) {
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\r': out_ += "\\r"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            out_ += b;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  bool indent_;
  std::string out_;
  std::vector<level> stack_;
  bool after_key_ = false;
};

}  // namespace reg4rec::io
