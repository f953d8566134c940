#include <catch2/catch.hpp>

#include <reg4rec/data/sequence_loader.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

namespace {
std::vector<std::int32_t> seq(const data::sequence_dataset& d, index_t u) {
  auto s = d.sequence(u);
  return {s.begin(), s.end()};
}
}  // namespace

TEST_CASE("sequence loader: ids kept both ways, items in numeric order", "[data][loader]") {
  temp_file f("seq_ok.txt", "10 5 3 9\n\n2 3\t3 7\r\n7 9");
  data::sequence_load_report rep;
  const auto d = data::load_sequences(f.path(), {}, &rep);
  REQUIRE(d.n_users() == 3);
  REQUIRE(d.n_items() == 4);  // 3 5 7 9
  CHECK(d.n_interactions() == 7);
  CHECK(d.user_ids().external(0) == "10");
  CHECK(d.user_ids().external(2) == "7");
  CHECK(d.item_ids().externals() == std::vector<std::string>{"3", "5", "7", "9"});
  CHECK(seq(d, 0) == std::vector<std::int32_t>{1, 0, 3});
  CHECK(seq(d, 1) == std::vector<std::int32_t>{0, 0, 2});
  CHECK(seq(d, 2) == std::vector<std::int32_t>{3});
  CHECK(d.item_ids().at("9") == 3);
  CHECK(d.user_ids().find("11") == data::id_map::npos);
  CHECK_THROWS_AS(d.item_ids().at("4"), not_found_error);
  CHECK(rep.lines == 4);
  CHECK(rep.blank_lines == 1);
  CHECK(rep.repeated_pairs == 1);
  CHECK(rep.interactions == 7);
}

TEST_CASE("sequence loader: string ids numbered by first appearance", "[data][loader]") {
  temp_file f("seq_str.txt", "alice B0 A1\nbob A1 C2\n");
  data::sequence_load_options o;
  o.ids = data::id_kind::string;
  const auto d = data::load_sequences(f.path(), o);
  CHECK(d.item_ids().externals() == std::vector<std::string>{"B0", "A1", "C2"});
  CHECK(seq(d, 1) == std::vector<std::int32_t>{1, 2});
  CHECK(d.user_ids().at("bob") == 1);
}

TEST_CASE("sequence loader: malformed lines name the file, line and field", "[data][loader]") {
  SECTION("non-integer item") {
    temp_file f("seq_bad_item.txt", "1 1 2 3\n2 4 5x 6\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_sequences(f.path()), f.path(), 2, "field 'item 2'");
  }
  SECTION("non-integer user") {
    temp_file f("seq_bad_user.txt", "1 1 2\nu2 4 5\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_sequences(f.path()), f.path(), 2, "field 'user'");
  }
  SECTION("negative id") {
    temp_file f("seq_neg.txt", "1 1 -2\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_sequences(f.path()), f.path(), 1, "item 2");
  }
  SECTION("duplicate user") {
    temp_file f("seq_dup.txt", "1 1 2\n2 3\n1 4\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_sequences(f.path()), f.path(), 3, "first on line 1");
  }
  SECTION("empty user, unless skipped and counted") {
    temp_file f("seq_empty.txt", "1 1 2\n2\n3 3 4\n4 \n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_sequences(f.path()), f.path(), 2, "has no items");
    data::sequence_load_options o;
    o.skip_empty_users = true;
    data::sequence_load_report rep;
    const auto d = data::load_sequences(f.path(), o, &rep);
    CHECK(d.n_users() == 2);
    CHECK(rep.skipped_empty_users == 2);
    CHECK(rep.skipped_lines == std::vector<std::int64_t>{2, 4});
    CHECK(rep.summary().find("2 users without items skipped") != std::string::npos);
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(data::load_sequences("/nonexistent/reg4rec/seq.txt"), io_error);
  }
}

TEST_CASE("sequence loader: bundled Beauty matches SOURCE.md", "[data][loader][beauty]") {
  const auto d = data::load_sequences(test::beauty_dir() + "/Beauty.txt");
  const auto s = d.stats();
  CHECK(s.users == 22363);
  CHECK(s.items == 12101);
  CHECK(s.interactions == 198502);
  CHECK(s.min_length == 5);
  CHECK(s.max_length == 204);
  CHECK(s.median_length == 6);
  CHECK(s.mean_length == Approx(8.876).margin(5e-4));
  // Items 1..12101 map to 0..12100; users keep their line order.
  for (index_t i : {0, 1, 5000, 12100}) CHECK(d.item_ids().external(i) == std::to_string(i + 1));
  CHECK(d.user_ids().external(0) == "1");
  CHECK(seq(d, 0) == std::vector<std::int32_t>{0, 1, 2, 3, 4});
  const auto counts = d.item_counts();
  CHECK(*std::min_element(counts.begin(), counts.end()) >= 5);
}

TEST_CASE("sequence loader: Toys from ../shared (skipped when absent)", "[data][loader][toys]") {
  const std::string p = test::toys_dir() + "/Toys_and_Games.txt";
  if (!test::file_exists(p)) {
    WARN("skipped: " << p << " not found");
    return;
  }
  const auto d = data::load_sequences(p);
  CHECK(d.n_users() == 19412);
  CHECK(d.n_items() == 11924);
  CHECK(d.n_interactions() == 167597);
}
