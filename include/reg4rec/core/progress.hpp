// Progress of long work. On a terminal: one self-rewriting line with a bar, the rate and the
// ETA; elsewhere (logs, CI): a plain line at most every few seconds and one at the end. A null
// stream silences it. Work that reports progress takes `std::ostream* log` in its options.
//
//   progress p("epoch 3", n_batches, opts.log, "batch");
//   for (...) { ...; p.advance(1, "loss 2.314"); }
//   p.finish("loss 2.101");
#pragma once

#include <chrono>
#include <cstdio>
#include <iostream>
#include <ostream>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "reg4rec/core/types.hpp"

namespace reg4rec {

class progress {
 public:
  /// total = 0 when unknown. `unit` names what is counted ("items", "users", "steps").
  progress(std::string label, index_t total, std::ostream* out = &std::clog, std::string unit = "it")
      : label_(std::move(label)), unit_(std::move(unit)), total_(total), out_(out),
        tty_(out == &std::clog || out == &std::cerr ? is_terminal() : false), start_(clock::now()),
        last_(start_) {}
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  ~progress() {
    if (!finished_ && done_ > 0) finish();
  }

  /// Adds k to the count; `note` (e.g. "loss 2.31") is shown with the next report.
  void advance(index_t k = 1, const std::string& note = {}) {
    done_ += k;
    if (!note.empty()) note_ = note;
    if (!out_) return;
    const auto now = clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (since >= (tty_ ? 0.2 : 10.0)) {
      last_ = now;
      report(false);
    }
  }

  /// Final line (always printed when a stream is set).
  void finish(const std::string& note = {}) {
    if (finished_) return;
    finished_ = true;
    if (!note.empty()) note_ = note;
    if (out_) report(true);
  }

  index_t done() const noexcept { return done_; }
  double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;

  static bool is_terminal() {
#if defined(__unix__) || defined(__APPLE__)
    return ::isatty(STDERR_FILENO) != 0;
#else
    return false;
#endif
  }

  static std::string clock_string(double s) {
    char b[32];
    const long t = static_cast<long>(s + 0.5);
    if (t >= 3600)
      std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
      std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
    return b;
  }

  void report(bool final_line) {
    const double el = seconds();
    const double rate = el > 0 ? double(done_) / el : 0.0;
    char buf[160];
    std::string line = label_ + " ";
    if (total_ > 0) {
      const double f = std::min(1.0, double(done_) / double(total_));
      if (tty_) {
        const int w = 24, fill = static_cast<int>(f * w);
        line += "[" + std::string(fill, '#') + std::string(w - fill, '.') + "] ";
      }
      std::snprintf(buf, sizeof buf, "%lld/%lld %s (%.0f%%)", static_cast<long long>(done_),
                    static_cast<long long>(total_), unit_.c_str(), 100.0 * f);
      line += buf;
    } else {
      std::snprintf(buf, sizeof buf, "%lld %s", static_cast<long long>(done_), unit_.c_str());
      line += buf;
    }
    std::snprintf(buf, sizeof buf, ", %.4g %s/s, %s", rate, unit_.c_str(), clock_string(el).c_str());
    line += buf;
    if (!final_line && total_ > 0 && rate > 0) line += " ETA " + clock_string(double(total_ - done_) / rate);
    if (!note_.empty()) line += ", " + note_;
    if (tty_)
      *out_ << '\r' << line << "\x1b[K" << (final_line ? "\n" : "") << std::flush;
    else
      *out_ << line << '\n' << std::flush;
  }

  std::string label_, unit_, note_;
  index_t total_, done_ = 0;
  std::ostream* out_;
  bool tty_, finished_ = false;
  clock::time_point start_, last_;
};

}  // namespace reg4rec
