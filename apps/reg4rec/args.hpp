// Minimal command-line parsing for the reg4rec program: `--name value`, `--name=value` and
// boolean `--flag`. Unknown flags, missing values and bad numbers are usage errors.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace reg4rec::cli {

/// A bad invocation: printed as one line followed by the subcommand's usage.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class args {
 public:
  /// `valued` flags take a value; `switches` do not.
  args(const std::vector<std::string>& argv, std::set<std::string> valued, std::set<std::string> switches)
      : valued_(std::move(valued)), switches_(std::move(switches)) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        help_ = true;
        continue;
      }
      if (a.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + a + "'");
      std::string name = a.substr(2), value;
      const auto eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (switches_.count(name)) {
        if (inline_value) throw usage_error("--" + name + " takes no value");
        values_[name] = "1";
      } else if (valued_.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argv.size()) throw usage_error("--" + name + " needs a value");
          value = argv[++i];
        }
        values_[name] = value;
      } else {
        throw usage_error("unknown option '--" + name + "'");
      }
    }
  }

  bool help() const noexcept { return help_; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }

  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  long long get_int(const std::string& name, long long fallback) const {
    if (!has(name)) return fallback;
    const std::string& v = values_.at(name);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE)
      throw usage_error("--" + name + " expects an integer, got '" + v + "'");
    return x;
  }
  double get_double(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    const std::string& v = values_.at(name);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') throw usage_error("--" + name + " expects a number, got '" + v + "'");
    if (!std::isfinite(x)) throw usage_error("--" + name + " expects a finite number, got '" + v + "'");
    return x;
  }

 private:
  std::set<std::string> valued_, switches_;
  std::map<std::string, std::string> values_;
  bool help_ = false;
};

}  // namespace reg4rec::cli
