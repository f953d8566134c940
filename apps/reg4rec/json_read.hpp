// Reading back the small JSON documents the program writes (model manifests): a complete
// JSON parser (objects, arrays, strings with escapes, numbers, true/false/null) into a tree of
// json_value. Errors are format_errors naming the file and the byte offset.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <reg4rec/core/error.hpp>
#include <reg4rec/io/atomic_file.hpp>
#include <reg4rec/io/json.hpp>

namespace reg4rec::cli {

class json_value {
 public:
  enum class kind { null, boolean, number, string, array, object };

  kind type() const noexcept { return kind_; }
  bool is_object() const noexcept { return kind_ == kind::object; }
  bool has(const std::string& key) const { return kind_ == kind::object && object_.count(key) > 0; }

  /// Member `key` of an object; format_error naming the document when absent.
  const json_value& at(const std::string& key) const {
    if (kind_ != kind::object) fail("'" + key + "' asked of a value that is not an object");
    const auto it = object_.find(key);
    if (it == object_.end()) fail("missing key '" + key + "'");
    return it->second;
  }
  const std::vector<json_value>& items() const {
    if (kind_ != kind::array) fail("expected an array");
    return array_;
  }
  const std::string& str() const {
    if (kind_ != kind::string) fail("expected a string");
    return string_;
  }
  double num() const {
    if (kind_ != kind::number) fail("expected a number");
    return number_;
  }
  bool boolean() const {
    if (kind_ != kind::boolean) fail("expected true or false");
    return bool_;
  }
  /// Convenience: member `key` as a string / number / bool, or `fallback` when absent.
  std::string get(const std::string& key, const std::string& fallback) const { return has(key) ? at(key).str() : fallback; }
  double get(const std::string& key, double fallback) const { return has(key) ? at(key).num() : fallback; }
  bool get_bool(const std::string& key, bool fallback) const { return has(key) ? at(key).boolean() : fallback; }

  /// Parses a whole document; `origin` names it in errors (a path).
  static json_value parse(const std::string& text, const std::string& origin) {
    parser p{text, 0, std::make_shared<std::string>(origin)};
    p.ws();
    json_value v = p.value(0);
    p.ws();
    if (p.pos != text.size()) p.fail("trailing characters after the JSON value");
    return v;
  }
  static json_value read_file(const std::string& path) { return parse(io::read_file(path), path); }

  /// Writes the value back (object keys in sorted order) into an open writer position.
  void write_to(io::json_writer& j) const {
    switch (kind_) {
      case kind::null: j.null(); break;
      case kind::boolean: j.value(bool_); break;
      case kind::number:
        if (number_ == double(static_cast<long long>(number_)) && std::abs(number_) < 9e15)
          j.value(static_cast<long long>(number_));
        else
          j.value(number_);
        break;
      case kind::string: j.value(string_); break;
      case kind::array:
        j.begin_array();
        for (const auto& v : array_) v.write_to(j);
        j.end_array();
        break;
      case kind::object:
        j.begin_object();
        for (const auto& [k, v] : object_) {
          j.key(k);
          v.write_to(j);
        }
        j.end_object();
        break;
    }
  }

 private:
  struct parser {
    const std::string& s;
    std::size_t pos;
    std::shared_ptr<std::string> origin;

    [[noreturn]] void fail(const std::string& what) const {
      throw format_error(*origin, 0, "", "at byte " + std::to_string(pos) + ": " + what);
    }
    void ws() {
      while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) ++pos;
    }
    bool literal(const char* w) {
      const std::string lit(w);
      if (s.compare(pos, lit.size(), lit) != 0) return false;
      pos += lit.size();
      return true;
    }
    json_value value(int depth) {
      if (depth > 64) fail("nesting deeper than 64 levels");
      json_value v;
      v.origin_ = origin;
      if (pos >= s.size()) fail("unexpected end of the document");
      const char c = s[pos];
      if (c == '{') {
        v.kind_ = kind::object;
        ++pos;
        ws();
        if (pos < s.size() && s[pos] == '}') {
          ++pos;
          return v;
        }
        for (;;) {
          ws();
          if (pos >= s.size() || s[pos] != '"') fail("expected a key string");
          std::string k = string();
          ws();
          if (pos >= s.size() || s[pos] != ':') fail("expected ':' after a key");
          ++pos;
          ws();
          v.object_[k] = value(depth + 1);
          ws();
          if (pos < s.size() && s[pos] == ',') {
            ++pos;
            continue;
          }
          if (pos < s.size() && s[pos] == '}') {
            ++pos;
            return v;
          }
          fail("expected ',' or '}' in an object");
        }
      }
      if (c == '[') {
        v.kind_ = kind::array;
        ++pos;
        ws();
        if (pos < s.size() && s[pos] == ']') {
          ++pos;
          return v;
        }
        for (;;) {
          ws();
          v.array_.push_back(value(depth + 1));
          ws();
          if (pos < s.size() && s[pos] == ',') {
            ++pos;
            continue;
          }
          if (pos < s.size() && s[pos] == ']') {
            ++pos;
            return v;
          }
          fail("expected ',' or ']' in an array");
        }
      }
      if (c == '"') {
        v.kind_ = kind::string;
        v.string_ = string();
        return v;
      }
      if (literal("true")) {
        v.kind_ = kind::boolean;
        v.bool_ = true;
        return v;
      }
      if (literal("false")) {
        v.kind_ = kind::boolean;
        return v;
      }
      if (literal("null")) return v;
      if (c == '-' || (c >= '0' && c <= '9')) {
        const char* begin = s.c_str() + pos;
        char* end = nullptr;
        v.kind_ = kind::number;
        v.number_ = std::strtod(begin, &end);
        if (end == begin) fail("bad number");
        pos += static_cast<std::size_t>(end - begin);
        return v;
      }
      fail(std::string("unexpected character '") + c + "'");
    }
    std::string string() {
      ++pos;  // opening quote
      std::string out;
      while (pos < s.size() && s[pos] != '"') {
        char c = s[pos++];
        if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
        if (c != '\\') {
          out += c;
          continue;
        }
        if (pos >= s.size()) break;
        c = s[pos++];
        switch (c) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            if (pos + 4 > s.size()) fail("short \\u escape");
            const unsigned long cp = std::strtoul(s.substr(pos, 4).c_str(), nullptr, 16);
            pos += 4;
            // UTF-8 of a code point of the basic plane (surrogate pairs are kept as two).
            if (cp < 0x80) {
              out += static_cast<char>(cp);
            } else if (cp < 0x800) {
              out += static_cast<char>(0xc0 | (cp >> 6));
              out += static_cast<char>(0x80 | (cp & 0x3f));
            } else {
              out += static_cast<char>(0xe0 | (cp >> 12));
              out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
              out += static_cast<char>(0x80 | (cp & 0x3f));
            }
            break;
          }
          default: fail(std::string("bad escape '\\") + c + "'");
        }
      }
      if (pos >= s.size()) fail("unterminated string");
      ++pos;  // closing quote
      return out;
    }
  };

  [[noreturn]] void fail(const std::string& what) const {
    throw format_error(origin_ ? *origin_ : std::string("<json>"), 0, "", what);
  }

  kind kind_ = kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<json_value> array_;
  std::map<std::string, json_value> object_;
  std::shared_ptr<std::string> origin_;
};

}  // namespace reg4rec::cli
