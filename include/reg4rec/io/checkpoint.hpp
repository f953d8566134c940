// Training checkpoints: parameters, AdamW moments, step and epoch, the RNG state and a data
// cursor (whatever the training loop needs to resume exactly: a shuffled order, a position),
// plus a free-form configuration string. Written through the binary container, so a checkpoint
// is replaced atomically and a truncated, corrupted, foreign or mismatched file is refused
// with a checkpoint_error naming the file and the record.
//
// Resuming is bit-exact when the training loop derives all randomness from the saved state
// (data order from the RNG and the cursor, dropout from the step).
#pragma once

#include <string>
#include <vector>

#include "reg4rec/core/rng.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/nn/parameters.hpp"
#include "reg4rec/optim/adamw.hpp"

namespace reg4rec::io {

struct train_state {
  long long step = 0;
  long long epoch = 0;
  reg4rec::rng::state_type rng{};
  std::vector<std::int64_t> cursor;
  std::string config;  // e.g. the run's configuration as JSON, checked by the caller
};

namespace detail {
template <class T>
const char* scalar_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}
}  // namespace detail

/// Saves a checkpoint (atomically). `opt` may be null (parameters only).
template <class T>
void save_checkpoint(const std::string& path, const nn::parameter_store<T>& ps,
                     const optim::adamw::state<T>* opt, const train_state& ts) {
  binary_writer w(path, "checkpoint");
  w.put_string("scalar", detail::scalar_name<T>());
  std::string names;
  for (const auto& e : ps.entries()) names += e.name + "\n";
  w.put_string("param_names", names);
  const auto v = ps.values();
  for (const auto& e : ps.entries()) {
    w.put<T>("param/" + e.name, cspan<T>(v.data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    if (opt) {
      w.put<T>("adam.m/" + e.name, cspan<T>(opt->m.data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
      w.put<T>("adam.v/" + e.name, cspan<T>(opt->v.data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    }
  }
  if (opt) w.put_scalar<std::int64_t>("adam.step", opt->step);
  w.put_scalar<std::int64_t>("train.step", ts.step);
  w.put_scalar<std::int64_t>("train.epoch", ts.epoch);
  w.put<std::uint64_t>("train.rng", cspan<std::uint64_t>(ts.rng.data(), 4));
  w.put<std::int64_t>("train.cursor", cspan<std::int64_t>(ts.cursor.data(), static_cast<index_t>(ts.cursor.size())));
  w.put_string("train.config", ts.config);
  w.commit();
}

/// Loads a checkpoint into a model of the same architecture. Every parameter of `ps` must be
/// in the file with the same shape, and the file must hold no other parameter. With `opt`
/// non-null the file must hold optimizer moments.
template <class T>
void load_checkpoint(const std::string& path, nn::parameter_store<T>& ps, optim::adamw::state<T>* opt,
                     train_state& ts) {
  binary_reader r(path, "checkpoint");
  const std::string scalar = r.get_string("scalar");
  if (scalar != detail::scalar_name<T>())
    r.fail("scalar", "holds " + scalar + " parameters, the model is " + detail::scalar_name<T>());
  std::string expected;
  for (const auto& e : ps.entries()) expected += e.name + "\n";
  const std::string stored = r.get_string("param_names");
  if (stored != expected) {
    // Name the first difference.
    std::vector<std::string> a, b;
    for (std::size_t p = 0, q; (q = stored.find('\n', p)) != std::string::npos; p = q + 1) a.push_back(stored.substr(p, q - p));
    for (const auto& e : ps.entries()) b.push_back(e.name);
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    const std::string what = i < a.size() && i < b.size() ? "file has '" + a[i] + "' where the model has '" + b[i] + "'"
                             : i < b.size()              ? "file lacks the model's parameter '" + b[i] + "'"
                                                         : "file has an extra parameter '" + a[i] + "'";
    r.fail("param_names", "the checkpoint is for another model: " + what);
  }
  auto v = ps.values();
  for (const auto& e : ps.entries())
    r.get<T>("param/" + e.name, span<T>(v.data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
  if (opt) {
    if (!r.has("adam.step")) r.fail("adam.step", "the checkpoint holds no optimizer state");
    *opt = optim::adamw().init(ps);
    for (const auto& e : ps.entries()) {
      r.get<T>("adam.m/" + e.name, span<T>(opt->m.data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
      r.get<T>("adam.v/" + e.name, span<T>(opt->v.data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    }
    opt->step = r.get_scalar<std::int64_t>("adam.step");
  }
  ts.step = r.get_scalar<std::int64_t>("train.step");
  ts.epoch = r.get_scalar<std::int64_t>("train.epoch");
  r.get<std::uint64_t>("train.rng", span<std::uint64_t>(ts.rng.data(), 4));
  const auto cursor = r.get_vector<std::int64_t>("train.cursor");
  ts.cursor.assign(cursor.begin(), cursor.end());
  ts.config = r.get_string("train.config");
}

}  // namespace reg4rec::io
