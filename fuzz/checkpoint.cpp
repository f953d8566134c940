// Fuzz target: training checkpoints (io/checkpoint.hpp) loaded into a fixed small model, with
// and without optimizer state, and saved SID generators (model::sid_generator::load) — the
// two kinds of file a long run writes and reads back. A generator that loads must also decode:
// one constrained beam search runs on it.
#include <vector>

#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>
#include <reg4rec/io/checkpoint.hpp>
#include <reg4rec/model/sid_generator.hpp>
#include <reg4rec/quant/prefix_trie.hpp>

#include "binary_input.hpp"
#include "fuzz_common.hpp"

namespace reg4rec::fuzz {
/// The model every checkpoint seed was written from (fuzz/make_seeds.cpp uses the same).
inline void checkpoint_model(nn::parameter_store<float>& ps) {
  ps.add("embed.weight", 5, 3, false);
  ps.add("proj.weight", 3, 3, true);
  ps.add("proj.bias", 1, 3, false);
}
}  // namespace reg4rec::fuzz

REG4REC_FUZZ_TARGET(checkpoint) {
  using namespace reg4rec;
  const std::string file = fuzz::binary_file_from_input(data, size);
  const std::string& path = fuzz::scratch().write(file.data(), file.size());
  for (bool with_optimizer : {false, true})
    fuzz::expect_clean([&] {
      nn::parameter_store<float> ps;
      fuzz::checkpoint_model(ps);
      optim::adamw::state<float> st;
      io::train_state ts;
      io::load_checkpoint<float>(path, ps, with_optimizer ? &st : nullptr, ts);
    });
  fuzz::expect_clean([&] {
    const auto m = model::sid_generator<float>::load(path);
    if (m.items() == 0) return;
    const auto trie = quant::prefix_trie::build(m.item_codes());
    const decode::trie_constraint tc(trie);
    decode::beam_options bo;
    bo.beam = 2;
    bo.top_k = 2;
    const decode::beam_search<float, decode::trie_constraint> search(m, tc, bo);
    const std::vector<std::int32_t> history{0};
    (void)search.recommend_one(cspan<std::int32_t>(history.data(), 1));
  });
  return 0;
}
