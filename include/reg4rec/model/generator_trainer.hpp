// Training the SID generator (SPEC §4.2–4.3): epochs over the training sequences of a
// leave-one-out split, AdamW with linear warm-up and cosine decay, global-norm clipping,
// early stopping on a validation metric, a checkpoint every epoch and exact resumption.
//
// Samples. With a causal encoder (all-prefix training) each user contributes windows of at
// most H = max_history items: the first window serves every target whose whole history fits
// in it (target p reads items [0, p)); past it, windows [kS, kS + H) with stride
// S = tail_stride serve the S targets p ∈ (kS + H − S, kS + H], which read the window's first
// p − kS items. S = 1 (default) gives every later target its own window of exactly its last
// H items — the histories inference sees. S > 1 trains S targets per window, on histories of
// H − S + 1 … H items: up to S times fewer encoder rows on long sequences, at the price of a
// train/test mismatch in history length (and item positions) for those targets. With a
// bidirectional encoder every target is its own window of its last ≤ H items (one prefix per
// sample). Training sequences never include the validation or test targets. Blocks (a user's
// windows) are shuffled in buckets of similar length, so batches need little padding.
//
// Step orders while training: fixed (codebook k at step k), random (a fresh permutation per
// sample), confidence (CRSS: the order the current model would choose, found with a no-grad
// pass over the batch before the training pass).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "reg4rec/core/progress.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/decode/step_selection.hpp"
#include "reg4rec/io/checkpoint.hpp"
#include "reg4rec/model/sid_generator.hpp"
#include "reg4rec/model/training.hpp"
#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/optim/clip.hpp"
#include "reg4rec/optim/nonfinite.hpp"
#include "reg4rec/optim/schedule.hpp"
#include "reg4rec/optim/weight_average.hpp"

namespace reg4rec::model {

enum class train_order { fixed, random, confidence };

struct generator_train_options {
  index_t epochs = 60;
  index_t batch_size = 256;  // training samples (decoders) per step
  double lr = 2e-3;
  double weight_decay = 0.05;
  double warmup_fraction = 0.03;
  double min_lr_ratio = 0.02;
  double clip_norm = 1.0;
  train_order order = train_order::fixed;
  // CRSS's confidence for train_order::confidence: keep it equal to the decoder's
  // (beam_options::confidence), so that training teaches the orders decoding takes.
  decode::confidence_measure confidence = decode::confidence_measure::max_probability;
  // Weight α of the loss on the free codebooks still to come at each step
  // (generator_batch::remaining_weight; 0: only the emitted codebook learns).
  double remaining_weight = 0;
  index_t eval_every = 1;   // epochs between validations (0: never)
  index_t patience = 6;     // validations without improvement before stopping
  std::string checkpoint;   // written after every epoch when set; <checkpoint>.best holds the best model
  bool resume = false;      // continue from `checkpoint` when it exists
  index_t tail_stride = 1;  // targets past the first window: one window per S targets (see above)
  index_t epochs_this_run = 0;  // stop after this many epochs of this call (0: run to the end), resume later
  // Training ignores the last `hold_out` items of every training sequence (neither targets nor
  // history), e.g. to keep them for PARS rewarded on targets the supervised model has not
  // fitted (pars_options::last_targets).
  index_t hold_out = 0;
  // Decay of an exponential moving average of the weights (optim::weight_average; 0: off).
  // When on, validation, the best model and the returned weights are the average; the
  // checkpoint keeps it beside in <checkpoint>.ema.
  double ema = 0;
  // A step with a NaN/Inf loss or gradient: stop (numerical_error naming the step, the parameter
  // and the last good checkpoint) or skip the batch (counted in train_history::skipped_steps).
  optim::nonfinite_policy nonfinite = optim::nonfinite_policy::stop;
  std::uint64_t seed = 1;
  std::ostream* log = &std::clog;
};

namespace detail {

// One user's training windows and decoders (all-prefix) or one sample (one prefix each).
struct sample_block {
  index_t user, first_target, last_target;  // targets p in [first, last] of the training sequence
};

inline std::vector<sample_block> make_blocks(const data::leave_one_out_split& split, encoder_attention att,
                                             index_t hold_out = 0) {
  std::vector<sample_block> blocks;
  for (index_t u = 0; u < split.n_users(); ++u) {
    const index_t n = split.train(u).size() - hold_out;
    if (n < 2) continue;
    if (att == encoder_attention::causal)
      blocks.push_back({u, 1, n - 1});
    else
      for (index_t p = 1; p < n; ++p) blocks.push_back({u, p, p});
  }
  return blocks;
}

// Adds a block's windows and decoders to a batch.
inline void add_block(generator_batch& b, const data::leave_one_out_split& split, const sample_block& blk, index_t H,
                      encoder_attention att, index_t stride) {
  const auto s = split.train(blk.user);
  if (att == encoder_attention::bidirectional) {
    const index_t p = blk.first_target, a = std::max<index_t>(0, p - H);
    b.add_decoder(b.add_window(s.subspan(a, p - a)), p - a, s[p]);
    return;
  }
  const index_t first_window_end = std::min<index_t>(blk.last_target, H);  // targets 1..H read window 0
  const index_t w = b.add_window(s.subspan(0, first_window_end));
  for (index_t p = blk.first_target; p <= first_window_end; ++p) b.add_decoder(w, p, s[p]);
  const index_t S = std::clamp<index_t>(stride, 1, H);
  for (index_t start = S; start + H - S < blk.last_target; start += S) {
    const index_t lo = start + H - S + 1, hi = std::min(start + H, blk.last_target);  // targets lo..hi
    if (hi < lo) continue;
    const index_t wk = b.add_window(s.subspan(start, hi - start));
    for (index_t p = lo; p <= hi; ++p) b.add_decoder(wk, p - start, s[p]);
  }
}

// Encoder rows a block's windows take (for length bucketing).
inline index_t block_items(const sample_block& blk, index_t H, encoder_attention att) {
  if (att == encoder_attention::bidirectional) return std::min(blk.first_target, H);
  return std::min(blk.last_target, H);
}

}  // namespace detail

/// The step order the current model would choose for every decoder of `b` (CRSS with the
/// confidence `measure` over all codes of each remaining free codebook, teacher-forced; the
/// layout's fixed tail last): fills b.order.
template <class T>
void confidence_order(const sid_generator<T>& m, generator_batch& b, workspace& ws,
                      decode::confidence_measure measure = decode::confidence_measure::max_probability) {
  const index_t M = m.codebooks(), D = b.decoders(), tpi = m.tokens_per_item(), n_free = m.layout().free_codebooks();
  std::vector<cspan<std::int32_t>> windows;
  for (index_t w = 0; w < b.windows(); ++w)
    windows.emplace_back(b.items.data() + b.window_start[w], b.window_start[w + 1] - b.window_start[w]);
  encoded_users<T> enc;
  m.encode(windows, enc, ws);
  decoder_state<T> st;
  m.start_decoding(st, D);
  std::vector<std::int32_t> limit(static_cast<std::size_t>(D)), cb(static_cast<std::size_t>(D), -1),
      code(static_cast<std::size_t>(D), -1);
  for (index_t j = 0; j < D; ++j) limit[j] = static_cast<std::int32_t>(b.prefix[j] * tpi);
  std::vector<std::uint32_t> used(static_cast<std::size_t>(D), 0);
  b.order.assign(static_cast<std::size_t>(D * M), 0);
  matrix<T> h(D, m.config().d_model);
  std::vector<matrix<T>> lp(static_cast<std::size_t>(M));
  std::vector<std::vector<std::int32_t>> all(static_cast<std::size_t>(n_free));  // every code: no constraint here
  for (index_t r = 0; r < n_free; ++r) {
    all[r].resize(static_cast<std::size_t>(m.layout().size(r)));
    std::iota(all[r].begin(), all[r].end(), 0);
  }
  for (index_t k = 0; k < M; ++k) {
    m.decode_step(cb, code, b.window, enc, st, h, ws, limit);
    if (k < n_free)
      for (index_t r = 0; r < n_free; ++r) {
        lp[r].resize(D, m.layout().size(r));
        m.log_probs(r, h, lp[r]);
      }
    for (index_t j = 0; j < D; ++j) {
      index_t best = k;  // the fixed tail goes in index order
      if (k < n_free) {
        T best_conf = -std::numeric_limits<T>::infinity();
        for (index_t r = 0; r < n_free; ++r) {
          if (used[j] & (1u << r)) continue;
          const T conf = measure == decode::confidence_measure::max_probability
                             ? lp[r].row(j).maxCoeff()
                             : T(decode::confidence(measure, lp[r].row(j).data(), lp[r].cols(), all[r]));
          if (conf > best_conf) {
            best_conf = conf;
            best = r;
          }
        }
      }
      used[j] |= 1u << best;
      b.order[j * M + k] = static_cast<std::int32_t>(best);
      cb[j] = static_cast<std::int32_t>(best);
      code[j] = m.item_codes()(b.target[j], best);
    }
  }
}

/// Trains `m` on the training sequences of `split`. `validate(m)` scores the model for early
/// stopping (higher is better); it is called every eval_every epochs. The best model's weights
/// are restored before returning.
template <class T>
train_history train_generator(sid_generator<T>& m, const data::leave_one_out_split& split,
                              const generator_train_options& o,
                              const std::function<validation_score(const sid_generator<T>&)>& validate = {}) {
  require(o.epochs >= 1 && o.batch_size >= 1 && o.tail_stride >= 1,
          "train_generator: epochs, batch_size and tail_stride must be positive");
  require(o.hold_out >= 0, "train_generator: hold_out must be >= 0, got ", o.hold_out);
  require(o.ema >= 0 && o.ema < 1, "train_generator: ema must lie in [0, 1), got ", o.ema);
  require(o.remaining_weight >= 0 && std::isfinite(o.remaining_weight),
          "train_generator: remaining_weight must be finite and >= 0, got ", o.remaining_weight);
  require(split.n_items() == m.items(), "train_generator: the split has ", split.n_items(),
          " items, the model's code table ", m.items());
  const auto t_start = std::chrono::steady_clock::now();
  const index_t H = m.config().max_history, M = m.codebooks(), n_free = m.layout().free_codebooks();
  auto blocks = detail::make_blocks(split, m.config().attention, o.hold_out);
  require(!blocks.empty(), "train_generator: no training sequence has two items",
          o.hold_out > 0 ? " once the held-out items are removed" : "");
  index_t samples = 0;
  for (const auto& b : blocks) samples += b.last_target - b.first_target + 1;
  const index_t steps_per_epoch = std::max<index_t>(1, samples / o.batch_size);

  optim::adamw opt({o.lr, 0.9, 0.98, 1e-8, o.weight_decay});
  auto st = opt.init(m.params());
  const long long total_steps = static_cast<long long>(steps_per_epoch * o.epochs);
  const optim::lr_schedule sched{o.lr, static_cast<long long>(o.warmup_fraction * double(total_steps)), total_steps,
                                 optim::lr_schedule::decay::cosine, o.min_lr_ratio};
  rng g(o.seed);
  const rng dropout_gen = rng(o.seed).fork(0xd0);
  train_history hist;
  long long step = 0;
  index_t first_epoch = 0;
  early_stopping<T> stopper(o.patience);
  optim::nonfinite_guard guard("train_generator", o.nonfinite);
  if (!o.checkpoint.empty()) guard.expect_checkpoint(o.checkpoint);
  const bool averaging = o.ema > 0;
  optim::weight_average<T> avg;
  if (averaging) avg = optim::weight_average<T>(m.params(), o.ema);
  const std::string avg_file = o.checkpoint + ".ema";

  if (o.resume && !o.checkpoint.empty() && std::ifstream(o.checkpoint).good()) {
    io::train_state ts;
    io::load_checkpoint<T>(o.checkpoint, m.params(), &st, ts);
    step = ts.step;
    first_epoch = static_cast<index_t>(ts.epoch);
    g.set_state(ts.rng);
    if (averaging) {
      if (!std::ifstream(avg_file).good())
        throw checkpoint_error(avg_file, "file", "resuming with ema = " + std::to_string(o.ema) +
                                                     " needs the weight average a run with ema writes here; it is missing");
      io::train_state as;
      avg.swap(m.params());
      io::load_checkpoint<T>(avg_file, m.params(), nullptr, as);
      avg.swap(m.params());
      if (as.epoch != ts.epoch)
        throw checkpoint_error(avg_file, "train.epoch", "holds the average after epoch " + std::to_string(as.epoch) +
                                                            ", the checkpoint is at epoch " + std::to_string(ts.epoch));
      avg.set_updates(as.step);
    }
    if (ts.cursor.size() == 3) {
      const auto best_epoch = static_cast<index_t>(ts.cursor[0]);
      std::unique_ptr<sid_generator<T>> best;
      if (best_epoch >= 0 && std::ifstream(o.checkpoint + ".best").good())
        best = std::make_unique<sid_generator<T>>(sid_generator<T>::load(o.checkpoint + ".best"));
      stopper.set_state(best_epoch, static_cast<index_t>(ts.cursor[1]), double(ts.cursor[2]) * 1e-9,
                        best ? &best->params() : nullptr);
    }
    guard.set_checkpoint(o.checkpoint, first_epoch);
    if (o.log) *o.log << "resumed from " << o.checkpoint << " at epoch " << first_epoch << ", step " << step << "\n";
  }

  generator_batch batch;
  batch.remaining_weight = static_cast<float>(o.remaining_weight);
  workspace ws;
  std::vector<std::int32_t> perm(static_cast<std::size_t>(M));
  const index_t last_epoch = o.epochs_this_run > 0 ? std::min(o.epochs, first_epoch + o.epochs_this_run) : o.epochs;
  const auto canonical = blocks;
  for (index_t epoch = first_epoch; epoch < last_epoch; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    // The epoch's order depends on (seed, epoch) only, so a resumed run sees the same order.
    blocks = canonical;
    rng epoch_rng = g.fork(static_cast<std::uint64_t>(epoch));
    epoch_rng.shuffle(blocks.begin(), blocks.end());
    // Sort by length inside buckets of ~32 batches; then shuffle runs of ~one batch, so a batch
    // holds windows of similar length while the order stays random.
    const std::size_t bucket = static_cast<std::size_t>(32 * std::max<index_t>(1, o.batch_size / 4));
    for (std::size_t a = 0; a < blocks.size(); a += bucket) {
      const auto e = blocks.begin() + static_cast<std::ptrdiff_t>(std::min(blocks.size(), a + bucket));
      std::stable_sort(blocks.begin() + static_cast<std::ptrdiff_t>(a), e, [&](const auto& x, const auto& y) {
        return detail::block_items(x, H, m.config().attention) < detail::block_items(y, H, m.config().attention);
      });
    }
    {
      const std::size_t run = static_cast<std::size_t>(std::max<index_t>(1, o.batch_size / 4));
      std::vector<std::size_t> runs;
      for (std::size_t a = 0; a < blocks.size(); a += run) runs.push_back(a);
      epoch_rng.shuffle(runs.begin(), runs.end());
      std::vector<detail::sample_block> shuffled;
      shuffled.reserve(blocks.size());
      for (std::size_t a : runs)
        shuffled.insert(shuffled.end(), blocks.begin() + static_cast<std::ptrdiff_t>(a),
                        blocks.begin() + static_cast<std::ptrdiff_t>(std::min(blocks.size(), a + run)));
      blocks.swap(shuffled);
    }
    progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), steps_per_epoch, o.log, "steps");
    double loss_sum = 0, tokens = 0;
    index_t steps = 0, applied = 0;
    std::size_t next = 0;
    while (next < blocks.size() && steps < steps_per_epoch) {
      batch.clear();
      while (next < blocks.size() && batch.decoders() < o.batch_size)
        detail::add_block(batch, split, blocks[next++], H, m.config().attention, o.tail_stride);
      if (o.order == train_order::random) {
        rng pg = g.fork(static_cast<std::uint64_t>(step));
        for (index_t j = 0; j < batch.decoders(); ++j) {
          for (index_t r = 0; r < M; ++r) perm[r] = static_cast<std::int32_t>(r);
          pg.shuffle(perm.begin(), perm.begin() + n_free);  // the fixed tail stays last
          batch.order.insert(batch.order.end(), perm.begin(), perm.end());
        }
      } else if (o.order == train_order::confidence) {
        confidence_order(m, batch, ws, o.confidence);
      }
      m.params().zero_grad();
      const double loss = m.train_step(batch, {&dropout_gen, static_cast<std::uint64_t>(step)});
      if (guard.check(loss, m.params(), epoch + 1, step)) {
        if (o.clip_norm > 0) optim::clip_grad_norm(m.params(), o.clip_norm);
        opt.step(m.params(), st, sched(step));
        if (averaging) avg.update(m.params());
        loss_sum += loss;
        ++applied;
      }
      ++step;
      ++steps;
      tokens += double(batch.items.size() * m.tokens_per_item() + batch.decoders() * M);
      char note[64];
      std::snprintf(note, sizeof note, "loss %.4f", loss_sum / double(std::max<index_t>(applied, 1)));
      bar.advance(1, note);
    }
    epoch_record rec;
    rec.epoch = epoch + 1;
    guard.end_epoch(epoch + 1);
    rec.loss = loss_sum / double(std::max<index_t>(applied, 1));
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rec.tokens_per_second = tokens / std::max(rec.seconds, 1e-9);
    char note[96];
    std::snprintf(note, sizeof note, "loss %.4f, %.0f tokens/s", rec.loss, rec.tokens_per_second);
    bar.finish(note);

    const bool validate_now = validate && o.eval_every > 0 && ((epoch + 1) % o.eval_every == 0 || epoch + 1 == o.epochs);
    if (validate_now) {
      if (averaging) avg.swap(m.params());  // validate (and keep) the average
      const auto v = validate(m);
      rec.metric = v.metric;
      rec.ndcg = v.secondary;
      rec.best = stopper.update(epoch + 1, v.metric, m.params());
      if (rec.best && !o.checkpoint.empty()) m.save(o.checkpoint + ".best");
      if (averaging) avg.swap(m.params());
      if (o.log)
        *o.log << "epoch " << epoch + 1 << ": validation " << v.metric << " (best " << stopper.best_metric()
               << " at epoch " << stopper.best_epoch() << ")\n";
    }
    hist.epochs.push_back(rec);
    if (!o.checkpoint.empty()) {
      io::train_state ts{step, epoch + 1, g.state(),
                         {stopper.best_epoch(), stopper.bad(), static_cast<std::int64_t>(std::llround(stopper.best_metric() * 1e9))},
                         ""};
      if (averaging) {
        avg.swap(m.params());
        io::save_checkpoint<T>(avg_file, m.params(), nullptr, io::train_state{avg.updates(), epoch + 1, {}, {}, ""});
        avg.swap(m.params());
      }
      io::save_checkpoint<T>(o.checkpoint, m.params(), &st, ts);
      guard.set_checkpoint(o.checkpoint, epoch + 1);
    }
    if (validate_now && stopper.should_stop()) {
      hist.stopped_early = true;
      if (o.log) *o.log << "early stop: no improvement in " << stopper.bad() << " validations\n";
      break;
    }
  }
  if (averaging) avg.swap(m.params());  // the average, unless a validated best replaces it below
  stopper.restore(m.params());
  hist.best_epoch = stopper.best_epoch();
  hist.best_metric = stopper.best_metric();
  hist.skipped_steps = guard.skipped();
  hist.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return hist;
}

}  // namespace reg4rec::model
