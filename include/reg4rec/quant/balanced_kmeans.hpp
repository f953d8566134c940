// Balanced k-means: Lloyd's algorithm whose assignment step spreads the points evenly over
// the K clusters, so that every code of a codebook carries about n/K items. Two policies:
//
// balanced_assignment (capacity-constrained, the default `balanced_kmeans`):
//   every cluster has a capacity; with fit_options::balance_slack = 0 the capacities are
//   ⌊n/K⌋ for all clusters, and ⌈n/K⌉ for at most n mod K of them, which sum to n: the sizes
//   come out exactly ⌊n/K⌋ or ⌈n/K⌉. With slack s > 0 every cluster may hold ⌈(1 + s)·n/K⌉.
//   Points are taken in decreasing order of regret (cost of their second-nearest minus nearest
//   code: those that lose most by moving go first; ties by nearest cost, then index); each
//   takes the nearest of its `balance_candidates` nearest codes that still has room, or, when
//   all of those are full, the nearest code with room found by a full scan. Greedy, so the
//   objective may rise slightly between iterations, unlike standard Lloyd.
//
// sinkhorn_assignment (`sinkhorn_kmeans`):
//   entropic optimal transport between the points (mass 1/n each) and the clusters (mass 1/K
//   each) on the cost matrix C (n × K): log-domain Sinkhorn–Knopp for `sinkhorn_iterations`
//   sweeps with ε = sinkhorn_epsilon × mean(C), the cluster potentials g warm-started from the
//   previous Lloyd iteration. A point then goes to argmin_k C_ik − g_k (the mode of its row of
//   the transport plan). Sizes are near-uniform, not exact: the hard rounding of a soft plan
//   can put a few more or fewer points in a cluster. Holds C in memory (n·K floats, at most
//   2^28), so subsample large sets with max_points_per_centroid.
//
// Encoding new points always takes the nearest code: balance is a property of the training
// assignment (a single query has nothing to balance against).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <Eigen/Core>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/quant/kmeans.hpp"

namespace reg4rec::quant {

namespace detail {

template <>
struct assigner<balanced_assignment> {
  struct state {};

  template <class Distance>
  static void run(const assign_input& in, state&, span<std::int32_t> labels, span<float> cost) {
    const index_t n = in.x.rows(), K = in.search.rows(), d = in.x.cols();
    const double slack = in.opts.balance_slack;
    require(slack >= 0, "balanced_assignment: balance_slack must be non-negative, got ", slack);
    require(in.opts.balance_candidates >= 1, "balanced_assignment: balance_candidates must be at least 1, got ",
            in.opts.balance_candidates);
    const index_t T = std::min<index_t>(K, in.opts.balance_candidates);
    matrix<std::int32_t> idx(n, T);
    matrix<float> sc(n, T);
    in.plan.topb(in.x, idx, sc);
    if constexpr (Distance::normalise_codewords)
      for (index_t i = 0; i < n; ++i)
        for (index_t t = 0; t < T; ++t) sc(i, t) = score_to_cost<Distance>(sc(i, t), in.inv_norm[i]);

    const index_t base = n / K, extra = n % K;
    const index_t cap = slack > 0 ? static_cast<index_t>(std::ceil((1.0 + slack) * double(n) / double(K))) : base;
    std::vector<index_t> size(static_cast<std::size_t>(K), 0);
    index_t at_top = 0;  // clusters holding base + 1 (slack 0)
    auto has_room = [&](index_t k) {
      return slack > 0 ? size[k] < cap : (size[k] < base || (size[k] == base && at_top < extra));
    };

    std::vector<std::int32_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      const float ra = T > 1 ? sc(a, 1) - sc(a, 0) : 0.0f, rb = T > 1 ? sc(b, 1) - sc(b, 0) : 0.0f;
      if (ra != rb) return ra > rb;
      if (sc(a, 0) != sc(b, 0)) return sc(a, 0) < sc(b, 0);
      return a < b;
    });
    for (std::int32_t i : order) {
      index_t chosen = -1;
      float c = 0;
      for (index_t t = 0; t < T; ++t)
        if (has_room(idx(i, t))) {
          chosen = idx(i, t);
          c = sc(i, t);
          break;
        }
      if (chosen < 0) {  // all candidates full: nearest code with room, by a full scan
        const float inv = in.inv_norm.empty() ? 0.0f : in.inv_norm[i];
        float best = std::numeric_limits<float>::infinity();
        for (index_t k = 0; k < K; ++k) {
          if (!has_room(k)) continue;
          const float v = direct_cost<Distance>(in.x.row_ptr(i), inv, in.search.row_ptr(k), d);
          if (chosen < 0 || v < best) {
            best = v;
            chosen = k;
          }
        }
        c = best;
      }
      labels[i] = static_cast<std::int32_t>(chosen);
      cost[i] = c;
      if (slack == 0 && size[chosen] == base) ++at_top;
      ++size[chosen];
    }
  }
};

template <>
struct assigner<sinkhorn_assignment> {
  struct state {
    Eigen::ArrayXf g;  // cluster potentials, kept across Lloyd iterations
  };

  template <class Distance>
  static void run(const assign_input& in, state& st, span<std::int32_t> labels, span<float> cost) {
    const index_t n = in.x.rows(), K = in.search.rows();
    require(in.opts.sinkhorn_iterations >= 1, "sinkhorn_assignment: sinkhorn_iterations must be at least 1");
    require(in.opts.sinkhorn_epsilon > 0, "sinkhorn_assignment: sinkhorn_epsilon must be positive, got ",
            in.opts.sinkhorn_epsilon);
    require(n * K <= (index_t(1) << 28), "sinkhorn_assignment: the cost matrix n x K = ", n, " x ", K,
            " is too large; subsample with fit_options::max_points_per_centroid or use balanced_assignment");
    constexpr index_t block = 1024;
    const index_t nb = (n + block - 1) / block;

    // Cost matrix, one product per row block.
    Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> C(n, K);
    const auto S = in.search.eigen();
    const Eigen::RowVectorXf cn = S.rowwise().squaredNorm().transpose();
    parallel_for(0, nb, 1, [&](index_t lo, index_t hi) {
      for (index_t b = lo; b < hi; ++b) {
        const index_t r0 = b * block, rn = std::min(block, n - r0);
        const auto X = in.x.eigen().middleRows(r0, rn);
        matrix<float> dots = X * S.transpose();
        for (index_t i = 0; i < rn; ++i) {
          if constexpr (Distance::normalise_codewords) {
            C.row(r0 + i) = 1.0f - dots.row(i).array() * in.inv_norm[r0 + i];
          } else {
            const float xn = X.row(i).squaredNorm();
            C.row(r0 + i) = (xn + cn.array() - 2.0f * dots.row(i).array()).max(0.0f);
          }
        }
      }
    });
    const double mean = detail::ordered_sum(n, [&](index_t i) { return double(C.row(i).sum()); }) / double(n * K);
    const float eps = static_cast<float>(in.opts.sinkhorn_epsilon * (mean > 0 ? mean : 1.0));
    const float la = -std::log(float(n)), lb = -std::log(float(K));
    if (st.g.size() != K) st.g = Eigen::ArrayXf::Zero(K);
    Eigen::ArrayXf f(n);
    std::vector<Eigen::ArrayXf> bmax(static_cast<std::size_t>(nb)), bsum(static_cast<std::size_t>(nb));

    for (int s = 0; s < in.opts.sinkhorn_iterations; ++s) {
      // f_i = ε log a − ε LSE_k((g_k − C_ik)/ε)
      const Eigen::RowVectorXf grow = st.g.matrix().transpose();
      parallel_for(0, n, 512, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) {
          const auto v = grow.array() - C.row(i);
          const float m = v.maxCoeff();
          f[i] = eps * la - (m + eps * std::log(((v - m) / eps).exp().sum()));
        }
      });
      // g_k = ε log b − ε LSE_i((f_i − C_ik)/ε): per row block a (max, Σ exp) per cluster,
      // merged in block order.
      parallel_for(0, nb, 1, [&](index_t lo, index_t hi) {
        for (index_t b = lo; b < hi; ++b) {
          const index_t r0 = b * block, rn = std::min(block, n - r0);
          Eigen::ArrayXf mx = Eigen::ArrayXf::Constant(K, -std::numeric_limits<float>::infinity());
          for (index_t i = r0; i < r0 + rn; ++i) mx = mx.max(f[i] - C.row(i).transpose());
          Eigen::ArrayXf sm = Eigen::ArrayXf::Zero(K);
          for (index_t i = r0; i < r0 + rn; ++i) sm += ((f[i] - C.row(i).transpose() - mx) / eps).exp();
          bmax[static_cast<std::size_t>(b)] = std::move(mx);
          bsum[static_cast<std::size_t>(b)] = std::move(sm);
        }
      });
      Eigen::ArrayXf M = bmax[0];
      for (index_t b = 1; b < nb; ++b) M = M.max(bmax[static_cast<std::size_t>(b)]);
      Eigen::ArrayXf Ssum = Eigen::ArrayXf::Zero(K);
      for (index_t b = 0; b < nb; ++b)
        Ssum += bsum[static_cast<std::size_t>(b)] * ((bmax[static_cast<std::size_t>(b)] - M) / eps).exp();
      st.g = eps * lb - (M + eps * Ssum.log());
    }
    // Hard assignment: the mode of each row of the plan, argmin_k C_ik − g_k (ties: smaller k).
    parallel_for(0, n, 2048, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        index_t best = 0;
        float bv = C(i, 0) - st.g[0];
        for (index_t k = 1; k < K; ++k) {
          const float v = C(i, k) - st.g[k];
          if (v < bv) {
            bv = v;
            best = k;
          }
        }
        labels[i] = static_cast<std::int32_t>(best);
        cost[i] = C(i, best);
      }
    });
  }
};

}  // namespace detail

/// Capacity-constrained k-means: cluster sizes ⌊n/K⌋ or ⌈n/K⌉ (slack 0).
using balanced_kmeans = kmeans<l2_distance, kmeanspp_init, balanced_assignment>;
/// Sinkhorn-balanced k-means: near-uniform cluster sizes from entropic transport.
using sinkhorn_kmeans = kmeans<l2_distance, kmeanspp_init, sinkhorn_assignment>;

}  // namespace reg4rec::quant
