// SASRec (Kang & McAuley 2018) trained with full-softmax cross-entropy over the item
// catalogue, the strong classical baseline of SPEC §5: a causal transformer over item ids
// (model::causal_lm with items as tokens; the output layer is tied to the item embeddings,
// so an item's score is the dot product of the last hidden state with its embedding).
//
// Training: every user's training sequence (without the validation and test targets),
// truncated to its last max_len + 1 items, predicts each next item from its prefix. Users are
// batched by similar length (shuffled buckets), so padding is small; early stopping on
// validation NDCG@10 (or Recall@10). A score-based model for eval::evaluate.
//
// Regularisation as in the original SASRec, which matters on sparse data such as Beauty:
// dropout on the input embeddings, the residual branches and the attention probabilities,
// and input item embeddings scaled by √d_model (with the tied output layer unscaled, items
// are learnt faster as inputs and dominate the position embeddings). With a cosine learning
// rate over the epoch budget they lift Beauty test Recall@10 from 0.073 to 0.083
// (docs/reproduction.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "reg4rec/core/progress.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/eval/evaluator.hpp"
#include "reg4rec/model/causal_lm.hpp"
#include "reg4rec/model/training.hpp"
#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/optim/clip.hpp"
#include "reg4rec/optim/nonfinite.hpp"
#include "reg4rec/optim/schedule.hpp"
#include "reg4rec/optim/weight_average.hpp"

namespace reg4rec::model {

struct sasrec_options {
  index_t max_len = 50;
  index_t d_model = 64;
  index_t heads = 2;
  index_t d_ff = 256;
  index_t layers = 2;
  double dropout = 0.3;            // residual branches and input embeddings
  double attention_dropout = 0.3;  // attention probabilities
  bool scale_embeddings = true;    // input item embeddings × √d_model, as the original SASRec
  double label_smoothing = 0.0;
  index_t epochs = 200;
  index_t batch_size = 128;
  double lr = 1e-3;
  // Decay over the whole `epochs` budget to min_lr_ratio·lr (or constant).
  optim::lr_schedule::decay lr_decay = optim::lr_schedule::decay::cosine;
  double min_lr_ratio = 0.0;
  double weight_decay = 0.0;
  double clip_norm = 5.0;
  // Decay of an exponential moving average of the weights (optim::weight_average; 0: off):
  // validation scores, and training keeps, the average instead of the last weights.
  double ema = 0;
  index_t eval_every = 2;     // epochs between validations
  index_t patience = 8;       // validations without improvement before stopping
  index_t eval_users = 0;     // validation users for early stopping (0: all)
  bool select_on_recall = false;  // early-stopping metric: NDCG@10 (default) or Recall@10
  // A step with a NaN/Inf loss or gradient: stop (numerical_error) or skip the batch (counted).
  optim::nonfinite_policy nonfinite = optim::nonfinite_policy::stop;
  std::uint64_t seed = 1;
  std::ostream* log = &std::clog;
};

class sasrec {
 public:
  sasrec(index_t n_items, const sasrec_options& o) : opt_(o), net_(config(n_items, o), o.seed) {}

  const sasrec_options& options() const noexcept { return opt_; }
  causal_lm<float>& network() noexcept { return net_; }
  const causal_lm<float>& network() const noexcept { return net_; }
  index_t items() const noexcept { return net_.config().vocab; }

  /// Trains on split.train(u) of every user; restores the best validation weights.
  train_history train(const data::leave_one_out_split& split) {
    require(split.n_items() == items(), "sasrec: the split has ", split.n_items(), " items, the model ", items());
    require(opt_.ema >= 0 && opt_.ema < 1, "sasrec: ema must lie in [0, 1), got ", opt_.ema);
    const auto t_start = std::chrono::steady_clock::now();
    const index_t L = opt_.max_len;
    std::vector<index_t> users;
    index_t targets = 0;
    for (index_t u = 0; u < split.n_users(); ++u)
      if (split.train(u).size() >= 2) {
        users.push_back(u);
        targets += std::min<index_t>(split.train(u).size(), L + 1) - 1;
      }
    require(!users.empty(), "sasrec: no training sequence has two items");
    const index_t steps_per_epoch = (static_cast<index_t>(users.size()) + opt_.batch_size - 1) / opt_.batch_size;
    optim::adamw adam({opt_.lr, 0.9, 0.98, 1e-8, opt_.weight_decay});
    auto st = adam.init(net_.params());
    const optim::lr_schedule sched{opt_.lr, 0, static_cast<long long>(steps_per_epoch) * opt_.epochs, opt_.lr_decay,
                                   opt_.min_lr_ratio};
    early_stopping<float> stopper(opt_.patience);
    optim::nonfinite_guard guard("sasrec", opt_.nonfinite);
    train_history hist;
    rng g(opt_.seed);
    const rng drop = rng(opt_.seed).fork(0xd0);
    long long step = 0;
    const bool averaging = opt_.ema > 0;
    optim::weight_average<float> avg;
    if (averaging) avg = optim::weight_average<float>(net_.params(), opt_.ema);
    matrix<std::int32_t> tok, tgt;
    for (index_t epoch = 0; epoch < opt_.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto batches = make_batches(split, users, g.fork(static_cast<std::uint64_t>(epoch)));
      progress bar("sasrec epoch " + std::to_string(epoch + 1), steps_per_epoch, opt_.log, "steps");
      double loss_sum = 0, rows = 0;
      index_t applied = 0;
      for (const auto& batch : batches) {
        index_t len = 1;
        for (index_t u : batch) len = std::max(len, std::min<index_t>(split.train(u).size(), L + 1) - 1);
        tok.setConstant(static_cast<index_t>(batch.size()), len, -1);
        tgt.setConstant(static_cast<index_t>(batch.size()), len, -100);
        for (std::size_t b = 0; b < batch.size(); ++b) {
          const auto s = split.train(batch[b]);
          const index_t n = std::min<index_t>(s.size(), L + 1);
          const auto tail = s.subspan(s.size() - n, n);
          for (index_t i = 0; i + 1 < n; ++i) {
            tok(static_cast<index_t>(b), i) = tail[i];
            tgt(static_cast<index_t>(b), i) = tail[i + 1];
          }
        }
        net_.params().zero_grad();
        const double loss = net_.train_step(tok, tgt, {&drop, static_cast<std::uint64_t>(step)});
        if (guard.check(loss, net_.params(), epoch + 1, step)) {
          if (opt_.clip_norm > 0) optim::clip_grad_norm(net_.params(), opt_.clip_norm);
          adam.step(net_.params(), st, sched(step));
          if (averaging) avg.update(net_.params());
          loss_sum += loss;
          ++applied;
        }
        ++step;
        rows += double(tok.size());
        char note[48];
        std::snprintf(note, sizeof note, "loss %.4f", loss_sum / double(std::max<index_t>(applied, 1)));
        bar.advance(1, note);
      }
      epoch_record rec;
      rec.epoch = epoch + 1;
      guard.end_epoch(epoch + 1);
      rec.loss = loss_sum / double(std::max<index_t>(applied, 1));
      rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rec.tokens_per_second = rows / std::max(1e-9, rec.seconds);
      bar.finish();
      if (opt_.eval_every > 0 && ((epoch + 1) % opt_.eval_every == 0 || epoch + 1 == opt_.epochs)) {
        eval::evaluator_options eo;
        eo.ks = {10};
        eo.max_users = opt_.eval_users;
        eo.model_name = "sasrec";
        if (averaging) avg.swap(net_.params());  // validate (and keep) the average
        const auto r = eval::evaluate(*this, split, data::stage::validation, eo);
        rec.metric = opt_.select_on_recall ? r.recall[0] : r.ndcg[0];
        rec.ndcg = r.ndcg[0];
        rec.best = stopper.update(epoch + 1, rec.metric, net_.params());
        if (averaging) avg.swap(net_.params());
        if (opt_.log)
          *opt_.log << "sasrec epoch " << epoch + 1 << ": loss " << rec.loss << ", validation R@10 " << r.recall[0]
                    << ", N@10 " << r.ndcg[0] << (rec.best ? " (best)" : "") << "\n";
      }
      hist.epochs.push_back(rec);
      if (stopper.should_stop()) {
        hist.stopped_early = true;
        break;
      }
    }
    stopper.restore(net_.params());
    hist.best_epoch = stopper.best_epoch();
    hist.best_metric = stopper.best_metric();
    hist.skipped_steps = guard.skipped();
    hist.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    (void)targets;
    return hist;
  }

  /// Scores every item for each user of the batch (histories truncated to max_len).
  void score(const eval::eval_batch& batch, matrix_view<float> scores) const {
    const index_t B = batch.size();
    index_t len = 1;
    for (const auto& h : batch.histories) len = std::max<index_t>(len, std::min<index_t>(h.size(), opt_.max_len));
    auto& ws = thread_workspace();
    auto frame = ws.scope();
    auto tok = ws.take_matrix<std::int32_t>(B, len);
    auto lengths = ws.take<std::int32_t>(B);
    for (index_t b = 0; b < B; ++b) {
      const auto h = data::most_recent(batch.histories[b], opt_.max_len);
      require(!h.empty(), "sasrec::score: user ", batch.users[b], " has an empty history");
      for (index_t i = 0; i < len; ++i) tok(b, i) = i < h.size() ? h[i] : -1;
      lengths[b] = static_cast<std::int32_t>(h.size());
    }
    net_.score_next(tok, lengths, scores, ws);
  }

 private:
  static causal_lm_config config(index_t n_items, const sasrec_options& o) {
    causal_lm_config c;
    c.vocab = n_items;
    c.max_len = o.max_len;
    c.d_model = o.d_model;
    c.heads = o.heads;
    c.d_ff = o.d_ff;
    c.layers = o.layers;
    c.dropout = o.dropout;
    c.embedding_dropout = o.dropout;  // SASRec drops out the input embeddings too
    c.attention_dropout = o.attention_dropout;
    c.embedding_scale = o.scale_embeddings ? std::sqrt(double(o.d_model)) : 1.0;
    c.label_smoothing = o.label_smoothing;
    return c;
  }

  // An epoch's batches: users shuffled, sorted by length inside buckets of 32 batches, cut
  // into batches, batch order shuffled — similar lengths per batch, random order overall.
  std::vector<std::vector<index_t>> make_batches(const data::leave_one_out_split& split, std::vector<index_t> users,
                                                 rng g) const {
    g.shuffle(users.begin(), users.end());
    const std::size_t bucket = static_cast<std::size_t>(opt_.batch_size * 32);
    for (std::size_t a = 0; a < users.size(); a += bucket) {
      const auto e = users.begin() + static_cast<std::ptrdiff_t>(std::min(users.size(), a + bucket));
      std::stable_sort(users.begin() + static_cast<std::ptrdiff_t>(a), e,
                       [&](index_t x, index_t y) { return split.train(x).size() < split.train(y).size(); });
    }
    std::vector<std::vector<index_t>> batches;
    for (std::size_t a = 0; a < users.size(); a += static_cast<std::size_t>(opt_.batch_size))
      batches.emplace_back(users.begin() + static_cast<std::ptrdiff_t>(a),
                           users.begin() + static_cast<std::ptrdiff_t>(std::min(users.size(), a + opt_.batch_size)));
    g.shuffle(batches.begin(), batches.end());
    return batches;
  }

  sasrec_options opt_;
  causal_lm<float> net_;
};

}  // namespace reg4rec::model
