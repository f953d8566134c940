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
