// The non-finite guard of the training loops. After each backward pass a trainer asks the
// guard whether the step may be applied: the loss and every gradient must be finite. When
// they are not, the policy decides:
//
//   nonfinite_policy::stop  (default) throw numerical_error naming the trainer, the epoch and
//                           step, what was non-finite (the loss, and the first parameter —
//                           i.e. the layer — whose gradient holds NaN or Inf) and the last good
//                           checkpoint when the trainer keeps one;
//   nonfinite_policy::skip  zero the gradients, count the step as skipped and go on (the
//                           optimizer does not move). An epoch in which every step was skipped
//                           still stops training (end_epoch throws): nothing is learned.
//
//   optim::nonfinite_guard guard("train_generator", o.nonfinite);
//   guard.set_checkpoint(path, epoch);                 // after each checkpoint written
//   const double loss = model.train_step(batch);
//   if (guard.check(loss, model.params(), epoch, step)) opt.step(...);   // else: skipped
//   guard.end_epoch(epoch);                            // throws if the whole epoch was skipped
//   history.skipped_steps = guard.skipped();
#pragma once

#include <cmath>
#include <string>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/kernels/finite.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::optim {

/// What a trainer does with a step whose loss or gradients are NaN or infinite.
enum class nonfinite_policy {
  stop,  ///< throw numerical_error (step, layer, last good checkpoint named)
  skip,  ///< drop the batch (gradients zeroed, no optimizer step), count it and continue
};

inline const char* to_string(nonfinite_policy p) noexcept { return p == nonfinite_policy::stop ? "stop" : "skip"; }

/// The name of the first parameter whose gradient holds a NaN or an infinity, or "" when all
/// gradients are finite.
template <class T>
std::string first_nonfinite_grad(const nn::parameter_store<T>& ps) {
  const auto g = ps.grads();
  const index_t i = kernels::first_nonfinite<T>(g);
  if (i == g.size()) return {};
  for (const auto& e : ps.entries())
    if (i >= e.offset && i < e.offset + e.rows * e.cols) return e.name;
  return "(padding between parameters)";
}

class nonfinite_guard {
 public:
  nonfinite_guard(std::string who, nonfinite_policy policy) : who_(std::move(who)), policy_(policy) {}

  /// Records that a checkpoint holding the state after `epoch` (1-based; 0: the starting
  /// state) was written to `path`.
  void set_checkpoint(std::string path, long long epoch) {
    checkpoint_ = std::move(path);
    checkpoint_epoch_ = epoch;
  }
  /// Says that the trainer can write checkpoints (to `path`) but has not yet.
  void expect_checkpoint(std::string path) {
    if (checkpoint_.empty()) pending_ = std::move(path);
  }

  /// True when the step may be applied. Otherwise throws (stop) or zeroes the gradients and
  /// returns false (skip). `epoch` is 1-based, `step` counts the trainer's steps from 0;
  /// `cause` (optional) says why the loss is missing (e.g. the error a forward pass raised on
  /// non-finite activations).
  template <class T>
  bool check(double loss, nn::parameter_store<T>& ps, long long epoch, long long step, const char* loss_name = "loss",
             const std::string& cause = {}) {
    ++steps_this_epoch_;
    const bool loss_ok = std::isfinite(loss);
    const std::string bad_param = first_nonfinite_grad(ps);
    if (loss_ok && bad_param.empty()) return true;
    if (policy_ == nonfinite_policy::stop) {
      std::string what =
          loss_ok ? reg4rec::detail::cat("non-finite gradient in parameter '", bad_param, "' at epoch ", epoch, ", step ",
                                         step, " (", loss_name, " ", loss, ")")
                  : reg4rec::detail::cat("non-finite ", loss_name, " (", loss, ") at epoch ", epoch, ", step ", step,
                                         cause.empty() ? std::string() : " [" + cause + "]",
                                         bad_param.empty() ? std::string(", gradients finite")
                                                           : ", first non-finite gradient in parameter '" + bad_param + "'");
      throw numerical_error(reg4rec::detail::cat(who_, ": ", what, "; ", checkpoint_note(),
                                                 " (the non-finite policy 'skip' drops such batches instead)"));
    }
    ps.zero_grad();
    ++skipped_;
    ++skipped_this_epoch_;
    return false;
  }

  /// Closes an epoch: numerical_error when every one of its steps was skipped.
  void end_epoch(long long epoch) {
    const bool all_skipped = steps_this_epoch_ > 0 && skipped_this_epoch_ == steps_this_epoch_;
    const index_t n = steps_this_epoch_;
    steps_this_epoch_ = skipped_this_epoch_ = 0;
    if (all_skipped)
      throw numerical_error(reg4rec::detail::cat(who_, ": all ", n, " steps of epoch ", epoch,
                                                 " were skipped (non-finite loss or gradients); ", checkpoint_note()));
  }

  /// Steps skipped so far.
  index_t skipped() const noexcept { return skipped_; }
  nonfinite_policy policy() const noexcept { return policy_; }

  /// "last good checkpoint: PATH (after epoch N)", or why there is none.
  std::string checkpoint_note() const {
    if (!checkpoint_.empty())
      return checkpoint_epoch_ > 0
                 ? reg4rec::detail::cat("last good checkpoint: ", checkpoint_, " (after epoch ", checkpoint_epoch_, ")")
                 : "last good checkpoint: " + checkpoint_;
    if (!pending_.empty()) return "no checkpoint written yet (" + pending_ + " is written after each epoch)";
    return "no checkpoint configured";
  }

 private:
  std::string who_;
  nonfinite_policy policy_;
  std::string checkpoint_, pending_;
  long long checkpoint_epoch_ = 0;
  index_t skipped_ = 0, steps_this_epoch_ = 0, skipped_this_epoch_ = 0;
};

}  // namespace reg4rec::optim
