// Example: serve top-K recommendations for one user with REG4Rec's decoding: unordered MPQ
// tokens under posting-list constraints, confidence-based step selection (CRSS), and CORP
// pruning paths whose tokens disagree on the category; each item comes with its reasoning
// path (which codebook was emitted at each step, and what the token "means"). A model with a
// reflection head (generator_config::reflection_weight) is also served with CORP's learned
// reflection score, which re-ranks the finished paths by how well the whole item fits the user.
//
//   example_serve_with_corp                         # trains a tiny generator on a synthetic world
//   example_serve_with_corp MODEL_DIR ITEM_ID...    # a folder saved by `reg4rec train --model
//                                                   # reg4rec-sft` or `reg4rec align`; the history
//                                                   # as the dataset's item ids, oldest first
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <reg4rec/data/split.hpp>
#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>
#include <reg4rec/decode/corp.hpp>
#include <reg4rec/io/npy.hpp>
#include <reg4rec/model/generator_trainer.hpp>
#include <reg4rec/quant/posting_index.hpp>
#include <reg4rec/quant/token_categories.hpp>

using namespace reg4rec;

// What serving needs: the generator, the posting lists of the item tokens, the token
// categories, item popularity (ties between items sharing a token tuple) and item names.
struct served_model {
  std::unique_ptr<model::sid_generator<float>> generator;
  quant::posting_index posting;
  quant::token_category_table categories;
  std::vector<std::int64_t> popularity;
  std::vector<std::string> names;  // external id (or a label) of each item
};

// A synthetic shop: 8 categories × 16 items, 3 unordered tokens per item (32 codes each):
//   t0 = 4c + ⌊p/4⌋  (category and quarter)   t2 = c  (category)
//   t1 = 4c + p mod 4 for p < 12, but 4(c + 1) + p mod 4 for the "cross-category" items p ≥ 12
// so t1 of a cross item is a token whose items are mostly of the next category: its reasoning
// path mixes two categories, which is what CORP prunes. Users browse one category (moving to
// the next one now and then).
served_model synthetic_model(data::sequence_dataset& ds) {
  const index_t C = 8, per = 16, n = C * per, K = 32;
  matrix<std::int32_t> codes(n, 3);
  std::vector<std::int32_t> category(static_cast<std::size_t>(n));
  std::vector<std::string> ids;
  for (index_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int32_t>(i / per), p = static_cast<std::int32_t>(i % per);
    codes(i, 0) = 4 * c + p / 4;
    codes(i, 1) = 4 * (p < 12 ? c : (c + 1) % C) + p % 4;
    codes(i, 2) = c;
    category[static_cast<std::size_t>(i)] = c;
    ids.push_back("item" + std::to_string(i));
  }
  std::vector<std::string> users;
  std::vector<index_t> offsets{0};
  std::vector<std::int32_t> seq;
  rng g(3);
  for (int u = 0; u < 300; ++u) {
    users.push_back("user" + std::to_string(u));
    auto c = static_cast<index_t>(g.below(C));
    for (index_t k = 0, len = 6 + static_cast<index_t>(g.below(6)); k < len; ++k) {
      if (g.uniform() < 0.2) c = (c + 1) % C;
      seq.push_back(static_cast<std::int32_t>(c * per + static_cast<index_t>(g.below(per))));
    }
    offsets.push_back(static_cast<index_t>(seq.size()));
  }
  ds = data::sequence_dataset(data::id_map(users), data::id_map(ids), offsets, seq);
  const data::leave_one_out_split split(ds, {10});

  served_model m;
  m.names = ids;
  m.popularity.assign(static_cast<std::size_t>(n), 0);
  for (index_t u = 0; u < split.n_users(); ++u)
    for (auto it : split.train(u)) ++m.popularity[static_cast<std::size_t>(it)];
  m.posting = quant::posting_index::build(codes, K, m.popularity);
  m.categories = quant::token_category_table::build(codes, K, category);

  model::generator_config cfg;  // a small version of SPEC §4.1's backbone
  cfg.d_model = 32;
  cfg.heads = 2;
  cfg.d_ff = 64;
  cfg.encoder_layers = cfg.decoder_layers = 1;
  cfg.dropout = 0.0;
  cfg.max_history = 10;
  cfg.reflection_weight = 1;  // a reflection head: the encoder state scores whole items
  m.generator = std::make_unique<model::sid_generator<float>>(cfg, model::sid_layout({K, K, K}), codes, 1);
  model::generator_train_options o;
  o.epochs = 5;
  o.batch_size = 128;
  o.lr = 3e-3;
  o.order = model::train_order::random;  // any order can be decoded; train_order::confidence is CRSS (slower)
  o.eval_every = 0;
  o.log = nullptr;
  const auto h = model::train_generator<float>(*m.generator, split, o);
  std::printf("trained a tiny generator: loss %.3f -> %.3f in %.1f s\n", h.epochs.front().loss, h.epochs.back().loss, h.seconds);
  return m;
}

// A model folder written by the reg4rec program (docs/cli.md, "Saved model folders").
served_model load_folder(const std::string& dir) {
  served_model m;
  m.generator = std::make_unique<model::sid_generator<float>>(model::sid_generator<float>::load(dir + "/generator.r4r"));
  m.posting.load(dir + "/posting.r4r");
  m.categories.load(dir + "/categories.r4r");
  const auto pop = io::read_npy<std::int64_t>(dir + "/popularity.npy");
  m.popularity.assign(pop.data(), pop.data() + pop.size());
  std::ifstream ids(dir + "/item_ids.txt");
  for (std::string line; std::getline(ids, line);) m.names.push_back(line);
  require(static_cast<index_t>(m.names.size()) == m.generator->items(), dir, "/item_ids.txt does not match the generator");
  return m;
}

// Top-K for one history with the given pruner, printed with the reasoning paths.
template <class Pruner>
void serve(const served_model& m, const std::vector<std::int32_t>& history, const Pruner& pruner, const char* label,
           double reflection = 0) {
  const decode::posting_constraint constraint(m.posting, m.popularity);
  decode::beam_options bo;
  bo.beam = 10;
  bo.top_k = 5;
  bo.order = decode::step_order::confidence;  // CRSS: emit the codebook the model is surest of
  bo.reflection = reflection;                 // > 0: rank by log p(path) + reflection · score(item)
  const decode::beam_search<float, decode::posting_constraint, Pruner> search(*m.generator, constraint, bo, pruner);
  const auto rec = search.recommend_one(cspan<std::int32_t>(history.data(), static_cast<index_t>(history.size())));
  std::printf("\n%s: top %zu\n", label, rec.items.size());
  for (std::size_t i = 0; i < rec.items.size(); ++i) {
    std::printf("  %zu. %-10s %s %7.3f  path:", i + 1, m.names[static_cast<std::size_t>(rec.items[i])].c_str(),
                reflection > 0 ? "score" : "log p", rec.scores[i]);
    for (const auto& t : rec.paths[i])
      std::printf(" c%d:%d[cat %d]", t.codebook, t.code, m.categories.category(t.codebook, t.code));
    std::printf("  consistency %.2f\n",
                decode::path_consistency(cspan<decode::path_token>(rec.paths[i].data(), static_cast<index_t>(rec.paths[i].size())),
                                         m.categories));
  }
}

int run(int argc, char** argv) {
  data::sequence_dataset ds;
  served_model m;
  std::vector<std::int32_t> history;
  if (argc > 2) {
    m = load_folder(argv[1]);
    std::unordered_map<std::string, std::int32_t> index;
    for (std::size_t i = 0; i < m.names.size(); ++i) index.emplace(m.names[i], static_cast<std::int32_t>(i));
    for (int a = 2; a < argc; ++a) {
      const auto it = index.find(argv[a]);
      if (it == index.end()) {
        std::fprintf(stderr, "unknown item id '%s'\n", argv[a]);
        return 1;
      }
      history.push_back(it->second);
    }
  } else {
    m = synthetic_model(ds);
    history = {50, 60, 49, 55, 62};  // a user browsing category 3 (items 48..63; 60..63 are cross items)
  }
  std::printf("history:");
  for (auto it : history) std::printf(" %s", m.names[static_cast<std::size_t>(it)].c_str());
  std::printf("\n");

  serve(m, history, decode::no_pruning{}, "constrained beam search with CRSS");
  decode::corp_options co;
  co.theta = 0.75;  // with M = 3 tokens: every adjacent pair of steps must agree on the category
  co.k_min = 1;     // check from the second step on (default ⌈M/2⌉)
  const decode::corp_pruner corp(m.categories, m.generator->codebooks(), co);
  serve(m, history, corp, "with CORP (theta 0.75)");
  if (m.generator->has_reflection()) serve(m, history, corp, "with CORP and its reflection score (weight 1)", 1.0);
  return 0;
}

// A bad file or argument ends with its message and exit status 1, not an abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_with_corp: %s\n", e.what());
    return 1;
  }
}
