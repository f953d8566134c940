// Replays every seed of fuzz/corpus/<target>/ through its fuzz target (compiled here as plain
// functions, with any compiler): each input must be accepted or rejected with reg4rec::error
// — never crash, never throw anything else. With the sanitizer build this is the corpus run
// under ASan/UBSan; the libFuzzer smoke tests (clang) then mutate from the same seeds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "robustness/robustness_util.hpp"

// The targets, as functions reg4rec_fuzz_<name>(data, size).
#include "../fuzz/checkpoint.cpp"
#include "../fuzz/interactions.cpp"
#include "../fuzz/items_tsv.cpp"
#include "../fuzz/npy.cpp"
#include "../fuzz/sequences.cpp"
#include "../fuzz/sid_table.cpp"

using namespace reg4rec;

namespace {
struct target {
  const char* name;
  int (*run)(const std::uint8_t*, std::size_t);
};
}  // namespace

TEST_CASE("fuzz seed corpora: every seed is accepted or rejected with reg4rec::error", "[robustness][fuzz]") {
  const std::vector<target> targets{{"sequences", reg4rec_fuzz_sequences},   {"items_tsv", reg4rec_fuzz_items_tsv},
                                    {"interactions", reg4rec_fuzz_interactions}, {"npy", reg4rec_fuzz_npy},
                                    {"sid_table", reg4rec_fuzz_sid_table},   {"checkpoint", reg4rec_fuzz_checkpoint}};
  for (const auto& t : targets) {
    const std::string dir = std::string(REG4REC_FUZZ_DIR) + "/corpus/" + t.name;
    auto files = test::list_dir(dir);
    std::sort(files.begin(), files.end());
    INFO("target " << t.name);
    CHECK(files.size() >= 4);  // the seeds are in the repository
    for (const auto& f : files) {
      INFO("seed " << f);
      const std::string bytes = test::read_text(dir + "/" + f);
      CHECK_NOTHROW(t.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    }
    // And the empty input.
    CHECK_NOTHROW(t.run(nullptr, 0));
  }
}

// The replay above passes for a loader that rejects everything; the valid seeds must load.
TEST_CASE("fuzz seed corpora: the valid seeds are accepted by the loaders", "[robustness][fuzz]") {
  const std::string dir = std::string(REG4REC_FUZZ_DIR) + "/corpus/";
  test::temp_dir tmp;
  // A container seed in raw mode is one mode byte followed by the file.
  auto unwrap = [&](const std::string& seed) {
    const std::string bytes = test::read_text(dir + seed);
    REQUIRE(bytes.size() > 1);
    test::write_text(tmp / "file", bytes.substr(1));
    return tmp / "file";
  };
  CHECK(data::load_sequences(dir + "sequences/valid_small.txt").n_users() > 0);
  CHECK(io::read_npy<float>(dir + "npy/f4_3x2.npy").rows() == 3);
  CHECK(io::read_npy<std::int64_t>(dir + "npy/i8_2x2.npy")(1, 1) == 4);
  {
    quant::sid_table<quant::append_dedup_token> t;
    t.load(unwrap("sid_table/dedup.raw"));
    CHECK(t.num_items() == 6);
  }
  {
    quant::prefix_trie t;
    t.load(unwrap("sid_table/trie.raw"));
    CHECK(t.num_nodes() > 1);
  }
  {
    nn::parameter_store<float> ps;
    fuzz::checkpoint_model(ps);
    optim::adamw::state<float> st;
    io::train_state ts;
    io::load_checkpoint<float>(unwrap("checkpoint/with_adam.raw"), ps, &st, ts);
    CHECK(ts.step == 12);
    CHECK(st.step == 4);
  }
  CHECK(model::sid_generator<float>::load(unwrap("checkpoint/generator.raw")).items() == 6);
  // Framed seeds rebuild the same file as the raw ones.
  const std::string raw = test::read_text(dir + "checkpoint/with_adam.raw"),
                    framed = test::read_text(dir + "checkpoint/with_adam.framed");
  CHECK(fuzz::binary_file_from_input(reinterpret_cast<const std::uint8_t*>(framed.data()), framed.size()) ==
        raw.substr(1));
}
