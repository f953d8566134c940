// Example: give the items of an existing recommender semantic IDs.
//
// Your system already has an item embedding matrix (from a two-tower model, a text encoder,
// ...). This program turns it into SIDs with RQ-KMeans (or TIGER's RQ-VAE), makes them unique
// with TIGER's extra dedup token, and builds the prefix trie that constrained decoding needs.
//
//   example_tokenize_items                        # synthetic 3,000 × 64 item matrix
//   example_tokenize_items items.npy [--vae]      # your float32 (n_items, d) matrix; --vae: RQ-VAE
//
// With interaction data at hand, smoothing the vectors over the item co-occurrence graph first
// (data::graph_smooth, S²GR) gives items bought together nearer vectors and so shared tokens;
// the synthetic run shows it on made-up sessions.
//
// Only headers of the library are used: link reg4rec::reg4rec, include <reg4rec/quant.hpp>.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <reg4rec/data/graph_smoothing.hpp>
#include <reg4rec/io/npy.hpp>
#include <reg4rec/quant.hpp>
#include <reg4rec/quant/rq_vae.hpp>

using namespace reg4rec;

// Symmetric co-occurrence counts of made-up sessions: each pairs an item with an item 1–3
// places further on in the catalogue. With real data use data::cooccurrence(split), which
// counts the training sequences only.
data::sparse_matrix synthetic_cooccurrence(index_t n, std::uint64_t seed) {
  rng g(seed);
  std::vector<Eigen::Triplet<double, std::int64_t>> t;
  for (index_t s = 0; s < 4 * n; ++s) {
    const auto a = static_cast<index_t>(g.below(n)), b = (a + 1 + static_cast<index_t>(g.below(3))) % n;
    t.emplace_back(a, b, 1.0);
    t.emplace_back(b, a, 1.0);
  }
  data::sparse_matrix c(n, n);
  c.setFromTriplets(t.begin(), t.end());
  return c;
}

// Clustered synthetic embeddings: 48 centres, items spread around them, unit rows.
matrix<float> synthetic_items(index_t n, index_t d, std::uint64_t seed) {
  rng g(seed);
  matrix<float> centres(48, d), x(n, d);
  for (index_t i = 0; i < centres.size(); ++i) centres.data()[i] = g.normal<float>();
  for (index_t i = 0; i < n; ++i) {
    const auto c = static_cast<index_t>(g.below(48));
    for (index_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + 0.35f * g.normal<float>();
    x.row(i).normalize();
  }
  return x;
}

int run(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "";
  const bool use_vae = argc > 2 && std::string(argv[2]) == "--vae";
  // 1. The item matrix: (n_items, d) float32, row i = item i of your catalogue.
  matrix<float> x = path.empty() ? synthetic_items(3000, 64, 7) : io::read_npy<float>(path);
  if (path.empty()) {
    data::graph_smoothing_options so;  // 2 hops, the item's own vector weighted 0.5 at each
    x = data::graph_smooth(x, synthetic_cooccurrence(x.rows(), 3), so);
    std::printf("smoothed over the co-occurrence graph (%ld hops, restart %.1f)\n", long(so.hops), so.restart);
  }
  // Training popularity decides which of several items sharing a SID comes first.
  std::vector<std::int64_t> popularity(static_cast<std::size_t>(x.rows()));
  for (index_t i = 0; i < x.rows(); ++i) popularity[static_cast<std::size_t>(i)] = 1000 / (1 + i % 97);
  std::printf("%ld items, %ld dimensions\n", long(x.rows()), long(x.cols()));

  // 2. Quantise: L = 3 levels of K codes each, one int32 per token.
  const index_t K = x.rows() >= 4096 ? 256 : 64;
  quant::fit_options fo;
  fo.seed = 1;
  fo.log = nullptr;  // &std::clog for progress lines
  matrix<std::int32_t> codes;
  if (use_vae) {
    quant::rq_vae_config c;  // TIGER's tokenizer; smaller than the paper's for a quick run
    c.codebook_size = K;
    c.hidden = {128, 64};
    c.latent_dim = 16;
    c.epochs = 20;
    c.batch_size = std::max<index_t>(K, std::min<index_t>(1024, x.rows()));
    c.balance.usage_bias = 0.5;  // S²GR: over-used codes look farther in training, for even usage
    quant::tiger_rq_vae q(c);
    q.fit(x, fo);
    codes = q.encode(x);
  } else {
    quant::rq_kmeans q(3, K);
    q.set_beam_width(4);  // beam search over the levels: lower reconstruction error than greedy
    q.fit(x, fo);
    codes = q.encode(x);
  }
  std::cout << quant::compute_sid_stats(codes, K, x).to_markdown();

  // 3. A SID table with TIGER's collision policy: a 4th token numbers the items of a shared SID.
  const auto table = quant::sid_table<quant::append_dedup_token>::build(codes, K, popularity);
  std::printf("\nwith the dedup token (range %ld): %ld distinct 4-token SIDs for %ld items\n", long(table.dedup_range()),
              long(table.num_sids()), long(table.num_items()));
  for (index_t i = 0; i < 3; ++i) {
    const auto sid = table.sid(i);
    std::printf("  item %ld -> (%d, %d, %d, %d) -> item %d\n", long(i), sid[0], sid[1], sid[2], sid[3], table.item(sid));
  }

  // 4. The prefix trie: the valid next tokens of any partial SID, for constrained beam search.
  const auto trie = quant::prefix_trie::build(table);
  const auto first = table.sid(0);
  auto node = trie.child(trie.root(), first[0]);
  std::printf("trie: %ld nodes, %ld leaves; %ld first tokens are valid, %ld second tokens follow %d\n",
              long(trie.num_nodes()), long(trie.num_leaves()), long(trie.children(trie.root()).size()),
              long(trie.children(node).size()), first[0]);
  for (index_t t = 1; t < table.sid_length(); ++t) node = trie.child(node, first[t]);
  std::printf("walking item 0's SID through the trie reaches a leaf holding item %d\n", trie.items(node)[0]);
  // table.save("sids.r4r"); trie.save("trie.r4r");   // io/binary.hpp files, reload with load()
  return trie.items(node)[0] == 0 ? 0 : 1;
}

// A bad file or argument ends with its message and exit status 1, not an abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenize_items: %s\n", e.what());
    return 1;
  }
}
