// Helpers of the robustness suite: a private temporary folder, whole-file reads and writes,
// running the command-line program, and tiny models and datasets.
#pragma once

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <reg4rec/core.hpp>
#include <reg4rec/data/sequence_dataset.hpp>
#include <reg4rec/io/atomic_file.hpp>
#include <reg4rec/model/sid_generator.hpp>

namespace reg4rec::test {

/// A fresh folder under /tmp, removed with everything in it at the end.
class temp_dir {
 public:
  temp_dir() {
    std::string t = "/tmp/reg4rec_robust_XXXXXX";
    if (!::mkdtemp(t.data())) throw io_error(t, "mkdtemp failed");
    path_ = t;
  }
  ~temp_dir() {
    const std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", path_.c_str());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const noexcept { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!f) throw io_error(path, "test helper could not write");
}
inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
inline void make_dir(const std::string& path) { ::mkdir(path.c_str(), 0755); }

/// Names in a folder (no . and ..), for spotting leftover temporary files.
inline std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

/// Simulated full disk for the calling process: writes beyond `bytes` fail (EFBIG, the same
/// failure path as ENOSPC) while the object lives. SIGXFSZ is ignored meanwhile.
class file_size_limit {
 public:
  explicit file_size_limit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = saved_;
    r.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &r);
  }
  ~file_size_limit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = SIG_DFL;
};

/// What a run of the command-line program did.
struct cli_result {
  int exit_code = -1;  // -1: killed by a signal
  std::string out, err;
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::istringstream s(err);
    for (std::string l; std::getline(s, l);) lines.push_back(l);
    return lines;
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs `program args...` through /bin/sh, after `prefix` (shell text such as a ulimit, which
/// then applies to the program only). Its stderr goes through a pipe, so a file-size limit
/// does not swallow the error message.
inline cli_result run_program(const std::string& program, const std::vector<std::string>& args,
                              const std::string& scratch, const std::string& prefix = "") {
  std::string cmd = prefix + " exec " + shell_quote(program);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  const std::string out = scratch + "/.stdout", err = scratch + "/.stderr", code = scratch + "/.status";
  const std::string full = "( sh -c " + shell_quote(cmd) + " 2>&1 >" + shell_quote(out) + "; echo $? >" +
                           shell_quote(code) + " ) | cat >" + shell_quote(err);
  const int status = std::system(full.c_str());
  cli_result r;
  const std::string c = read_text(code);
  if (status != -1 && !c.empty()) r.exit_code = std::atoi(c.c_str());
  if (r.exit_code > 128) r.exit_code = -1;  // killed by a signal
  r.out = read_text(out);
  r.err = read_text(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  std::remove(code.c_str());
  return r;
}

/// Six items with two-token SIDs (codebooks of three codes), all distinct.
inline matrix<std::int32_t> tiny_codes() {
  matrix<std::int32_t> c(6, 2);
  c << 0, 0, 0, 1, 1, 0, 1, 2, 2, 1, 2, 2;
  return c;
}

inline model::generator_config tiny_generator_config() {
  model::generator_config c;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 8;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.dropout = 0;
  c.max_history = 4;
  c.embedding_std = 0.5;
  return c;
}

/// A dataset of `users` users over `items` items (ids 1..items), lengths 5..8, deterministic.
inline data::sequence_dataset synthetic_dataset(index_t users, index_t items, std::uint64_t seed) {
  std::vector<std::string> u, it;
  for (index_t i = 0; i < items; ++i) it.push_back(std::to_string(i + 1));
  std::vector<index_t> offsets{0};
  std::vector<std::int32_t> seq;
  rng g(seed);
  for (index_t k = 0; k < users; ++k) {
    u.push_back(std::to_string(k + 1));
    const index_t n = 5 + static_cast<index_t>(g.below(4));
    for (index_t j = 0; j < n; ++j) seq.push_back(static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(items))));
    offsets.push_back(static_cast<index_t>(seq.size()));
  }
  return data::sequence_dataset(data::id_map(u), data::id_map(it), offsets, seq);
}

}  // namespace reg4rec::test
