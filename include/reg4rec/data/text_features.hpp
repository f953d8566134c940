// Text features of items (SPEC §2): hashed TF-IDF of the title, brand and category words,
// reduced by a randomized truncated SVD (latent semantic analysis).
//
// Text of an item: segments — the title, the brand, each category label, and the keyword text
// (by default only when the file has no title, as for Toys). Tokens: maximal runs of ASCII
// letters and digits (lowercased) or non-ASCII bytes (UTF-8 letters stay inside words); tokens
// of one character are dropped. Terms: every token and, with bigrams, every pair of adjacent
// tokens of the same segment ("nail polish"); a brand or category word is the same term as the
// same word in a title.
//
// Hashing (Weinberger et al. 2009): a term goes to bucket h(term) mod 2^hash_bits with sign
// ±1 from another bit of h, so that collisions cancel on average instead of adding up.
// Weights:
//   tf(term, item) = 1 + ln(count)                      (sublinear; raw count if disabled)
//   x[item, b]     = Σ_{terms in b} sign(term) · tf      (signed hashed term frequency)
//   idf(b)         = ln((1 + N) / (1 + df(b))) + 1      (smoothed; df = items with x[., b] ≠ 0)
//   row            = x[item, ·] · idf, then L2-normalised
// The sparse matrix keeps only the buckets that occur (its columns map to `buckets`), which
// changes nothing in the products and saves memory. The embedding is U_d Σ_d of the rank-d
// randomized SVD (the rows of the TF-IDF matrix projected on the top right singular vectors),
// rows L2-normalised; an item without any term gets a zero row.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/data/item_metadata.hpp"
#include "reg4rec/data/randomized_svd.hpp"

namespace reg4rec::data {

/// When the keyword text (idgenrec_text) joins the item's text.
enum class keyword_text { when_no_title, always, never };

struct text_feature_options {
  int hash_bits = 18;          ///< 2^18 = 262,144 buckets
  bool bigrams = true;
  bool signed_hash = true;
  bool sublinear_tf = true;
  bool use_title = true, use_brand = true, use_categories = true;
  keyword_text keywords = keyword_text::when_no_title;
  index_t dim = 256;           ///< embedding width d
  index_t oversample = 16;
  int power_iterations = 2;
  std::uint64_t seed = 0x7e47ULL;
  std::ostream* log = nullptr;
};

/// The hashed TF-IDF matrix: (n_items × buckets.size()), rows L2-normalised; column c is
/// hash bucket buckets[c].
struct hashed_tfidf_matrix {
  sparse_matrix x;
  std::vector<std::int64_t> buckets;
};

/// Lowercase word tokens of a text (see the file comment for the rule).
inline std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (cur.size() > 1) out.push_back(cur);
    cur.clear();
  };
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80)
      cur += ch;
    else if (c >= 'A' && c <= 'Z')
      cur += static_cast<char>(c - 'A' + 'a');
    else
      flush();
  }
  flush();
  return out;
}

namespace detail {

// 64-bit FNV-1a followed by a splitmix64 finaliser (FNV alone mixes its high bits poorly).
inline std::uint64_t hash_term(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

// The text segments of an item under the options.
inline std::vector<std::string_view> text_segments(const item_record& r, bool has_titles, const text_feature_options& o) {
  std::vector<std::string_view> seg;
  if (o.use_title && !r.title.empty()) seg.push_back(r.title);
  if (o.use_brand && !r.brand.empty()) seg.push_back(r.brand);
  if (o.use_categories)
    for (const auto& c : r.categories) seg.push_back(c);
  const bool kw = o.keywords == keyword_text::always || (o.keywords == keyword_text::when_no_title && !has_titles);
  if (kw && !r.text.empty()) seg.push_back(r.text);
  return seg;
}

// Rows L2-normalised in place (zero rows stay zero).
template <class M>
void normalize_rows(M& x) {
  for (index_t i = 0; i < x.rows(); ++i) {
    const double n = x.row(i).norm();
    if (n > 0) x.row(i) /= static_cast<typename M::Scalar>(n);
  }
}

}  // namespace detail

/// Hashed TF-IDF of every item's text (see the file comment).
inline hashed_tfidf_matrix hashed_tfidf(const item_metadata& meta, const text_feature_options& o = {}) {
  require(o.hash_bits >= 1 && o.hash_bits <= 30, "hashed_tfidf: hash_bits must be in [1, 30], got ", o.hash_bits);
  const index_t n = meta.n_items();
  const std::uint64_t mask = (std::uint64_t(1) << o.hash_bits) - 1;

  // Per item: (bucket, signed tf) pairs, summed per bucket. Items are independent.
  std::vector<std::vector<std::pair<std::int64_t, double>>> rows(static_cast<std::size_t>(n));
  parallel_for(0, n, 256, [&](index_t lo, index_t hi) {
    std::unordered_map<std::string, int> count;
    std::vector<std::pair<std::int64_t, double>> cells;
    for (index_t i = lo; i < hi; ++i) {
      count.clear();
      for (std::string_view seg : detail::text_segments(meta[i], meta.has_titles(), o)) {
        const auto tok = tokenize(seg);
        for (std::size_t t = 0; t < tok.size(); ++t) {
          ++count[tok[t]];
          if (o.bigrams && t + 1 < tok.size()) ++count[tok[t] + " " + tok[t + 1]];
        }
      }
      cells.clear();
      for (const auto& [term, c] : count) {
        const std::uint64_t h = detail::hash_term(term);
        const double sign = o.signed_hash && (h >> 63) ? -1.0 : 1.0;
        const double tf = o.sublinear_tf ? 1.0 + std::log(double(c)) : double(c);
        cells.emplace_back(static_cast<std::int64_t>(h & mask), sign * tf);
      }
      // Sum per bucket in bucket order (the map's order must not leak into the sums).
      std::sort(cells.begin(), cells.end());
      auto& row = rows[static_cast<std::size_t>(i)];
      for (const auto& c : cells) {
        if (!row.empty() && row.back().first == c.first)
          row.back().second += c.second;
        else
          row.push_back(c);
      }
      row.erase(std::remove_if(row.begin(), row.end(), [](const auto& c) { return c.second == 0.0; }), row.end());
    }
  });

  // Buckets in use → dense columns; document frequencies.
  hashed_tfidf_matrix out;
  for (const auto& row : rows)
    for (const auto& c : row) out.buckets.push_back(c.first);
  std::sort(out.buckets.begin(), out.buckets.end());
  std::vector<double> df;
  {
    std::vector<std::int64_t> uniq;
    for (std::size_t k = 0; k < out.buckets.size(); ++k) {
      if (k == 0 || out.buckets[k] != out.buckets[k - 1]) {
        uniq.push_back(out.buckets[k]);
        df.push_back(0.0);
      }
      df.back() += 1.0;
    }
    out.buckets = std::move(uniq);
  }
  std::vector<double> idf(df.size());
  for (std::size_t c = 0; c < df.size(); ++c) idf[c] = std::log((1.0 + double(n)) / (1.0 + df[c])) + 1.0;

  std::vector<Eigen::Triplet<double, std::int64_t>> trip;
  for (index_t i = 0; i < n; ++i) {
    const auto& row = rows[static_cast<std::size_t>(i)];
    double norm2 = 0;
    std::vector<std::pair<std::int64_t, double>> cells;
    for (const auto& c : row) {
      const auto col = std::lower_bound(out.buckets.begin(), out.buckets.end(), c.first) - out.buckets.begin();
      const double v = c.second * idf[static_cast<std::size_t>(col)];
      cells.emplace_back(col, v);
      norm2 += v * v;
    }
    const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    for (const auto& c : cells) trip.emplace_back(i, c.first, c.second * inv);
  }
  out.x.resize(n, static_cast<index_t>(out.buckets.size()));
  out.x.setFromTriplets(trip.begin(), trip.end());
  return out;
}

/// Text embedding of every item: (n_items × dim) float, rows L2-normalised (zero for an
/// item without text).
inline matrix<float> text_features(const item_metadata& meta, const text_feature_options& o = {}) {
  progress p("text features", 2, o.log, "steps");
  const hashed_tfidf_matrix t = hashed_tfidf(meta, o);
  p.advance(1, reg4rec::detail::cat("tf-idf ", t.x.rows(), " x ", t.x.cols(), " buckets used, ", t.x.nonZeros(), " non-zeros"));
  require(o.dim >= 1 && o.dim <= std::min<index_t>(t.x.rows(), t.x.cols()), "text_features: dim ", o.dim,
          " must be in [1, min(items, buckets used) = ", std::min<index_t>(t.x.rows(), t.x.cols()), "]");
  randomized_svd_options so;
  so.rank = o.dim;
  so.oversample = o.oversample;
  so.power_iterations = o.power_iterations;
  so.seed = o.seed;
  const svd_result svd = randomized_svd(t.x, so);
  matrix<float> f = (svd.u * svd.s.asDiagonal()).cast<float>();
  // An item without terms has a zero row in exact arithmetic; clear the rounding residue.
  for (index_t i = 0; i < t.x.rows(); ++i)
    if (t.x.outerIndexPtr()[i + 1] == t.x.outerIndexPtr()[i]) f.row(i).setZero();
  detail::normalize_rows(f);
  p.advance(1, reg4rec::detail::cat("svd to ", o.dim, ", top singular value ", svd.s(0)));
  p.finish();
  return f;
}

}  // namespace reg4rec::data
