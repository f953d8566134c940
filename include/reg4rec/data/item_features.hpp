// The default item features of the bundled data (SPEC §2): [text ; behaviour], each block
// L2-normalised and weighted so that a row with both blocks has unit norm:
//
//   x_i = [ w_t · text_i ; w_b · behaviour_i ],   w_t² + w_b² = 1   (equal weights: 1/√2 each)
//
// text: data/text_features.hpp (hashed TF-IDF + randomized SVD, 256 wide by default);
// behaviour: data/behaviour_features.hpp (training co-occurrence PPMI + randomized SVD, 128
// wide by default). An item with no training co-occurrence has a zero behaviour block and a
// row norm of w_t. Optionally the result is smoothed over the training co-occurrence graph
// (data/graph_smoothing.hpp, off by default). Deterministic for the seeds in the options (and
// a thread count).
//
// Features made elsewhere (a sentence encoder in Python) plug in through io::read_npy, and
// these go out through io::write_npy.
#pragma once

#include <cmath>
#include <ostream>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/data/behaviour_features.hpp"
#include "reg4rec/data/graph_smoothing.hpp"
#include "reg4rec/data/item_metadata.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/data/text_features.hpp"

namespace reg4rec::data {

struct item_feature_options {
  text_feature_options text;
  behaviour_feature_options behaviour;
  /// Relative weights of the blocks (normalised so that w_t² + w_b² = 1).
  double text_weight = 1.0, behaviour_weight = 1.0;
  /// Smoothing of [text ; behaviour] over the co-occurrence graph of `behaviour`'s window
  /// (hops 0: off).
  graph_smoothing_options smoothing = no_graph_smoothing();
  /// Progress of both builders (overrides their own `log` when set).
  std::ostream* log = nullptr;
};

/// Concatenates row-normalised blocks with weights: (n, d_a + d_b).
inline matrix<float> concat_features(const matrix<float>& a, const matrix<float>& b, double wa = 1.0, double wb = 1.0) {
  check_dim("concat_features: rows of the second block", b.rows(), a.rows());
  require(wa >= 0 && wb >= 0 && wa + wb > 0, "concat_features: weights must be non-negative, not both zero");
  const double norm = std::sqrt(wa * wa + wb * wb);
  const float fa = static_cast<float>(wa / norm), fb = static_cast<float>(wb / norm);
  matrix<float> x(a.rows(), a.cols() + b.cols());
  for (index_t i = 0; i < a.rows(); ++i) {
    const float na = a.row(i).norm(), nb = b.row(i).norm();
    x.row(i).head(a.cols()) = na > 0 ? (a.row(i) * (fa / na)).eval() : a.row(i);
    x.row(i).tail(b.cols()) = nb > 0 ? (b.row(i) * (fb / nb)).eval() : b.row(i);
  }
  return x;
}

/// [text ; behaviour] features of every item: (n_items × (text.dim + behaviour.dim)) float.
/// `meta` must be indexed like the split's dataset.
inline matrix<float> item_features(const item_metadata& meta, const leave_one_out_split& split,
                                   const item_feature_options& o = {}) {
  check_dim("item_features: items in the metadata (items in the dataset)", meta.n_items(), split.n_items());
  text_feature_options to = o.text;
  behaviour_feature_options bo = o.behaviour;
  if (o.log) to.log = bo.log = o.log;
  const matrix<float> t = text_features(meta, to);
  const sparse_matrix c = cooccurrence(split, bo);
  matrix<float> x = concat_features(t, behaviour_features(c, bo), o.text_weight, o.behaviour_weight);
  if (o.smoothing.hops > 0) {
    x = graph_smooth(x, c, o.smoothing);
    if (o.log)
      *o.log << "item features: smoothed over the co-occurrence graph, " << o.smoothing.hops
             << (o.smoothing.hops == 1 ? " hop" : " hops") << ", restart " << o.smoothing.restart << '\n';
  }
  return x;
}

}  // namespace reg4rec::data
