#include <catch2/catch.hpp>

#include <sstream>

#include <reg4rec/core/rng.hpp>
#include <reg4rec/data/interaction_loader.hpp>
#include <reg4rec/data/sequence_loader.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

namespace {
std::vector<std::string> external_seq(const data::sequence_dataset& d, index_t u) {
  std::vector<std::string> out;
  for (auto i : d.sequence(u)) out.push_back(d.item_ids().external(i));
  return out;
}
using svec = std::vector<std::string>;
}  // namespace

TEST_CASE("interactions: chronological, stable on ties, first-appearance ids", "[data][interactions]") {
  temp_file f("int_sort.csv",
              "user,item,timestamp\n"
              "bob,x,30\n"
              "amy,y,20\n"
              "bob,y,10\n"
              "amy,z,20\n"   // same time as (amy, y): file order kept
              "amy,w,5.5\n"
              "\n");
  data::interaction_load_report rep;
  const auto d = data::load_interactions(f.path(), {}, &rep);
  CHECK(rep.header);
  CHECK(rep.delimiter == ',');
  CHECK(rep.rows == 5);
  CHECK(rep.blank_lines == 1);
  REQUIRE(d.n_users() == 2);
  CHECK(d.user_ids().externals() == svec{"bob", "amy"});
  CHECK(external_seq(d, 0) == svec{"y", "x"});
  CHECK(external_seq(d, 1) == svec{"w", "y", "z"});
  // Items numbered walking the final sequences: y, x, w, z.
  CHECK(d.item_ids().externals() == svec{"y", "x", "w", "z"});
}

TEST_CASE("interactions: iterative k-core to a fixed point, hand-made", "[data][interactions]") {
  // k = 2. Round 1 drops u4 (1 interaction); then d has 1 → drop (u3,d); then u3 has 1 →
  // drop (u3,c); then c has 1 → drop (u1,c); u1 keeps a, b. Four rounds, two users and two
  // items gone.
  temp_file f("int_kcore.tsv",
              "u1\ta\t1\nu1\tb\t2\nu1\tc\t3\nu2\ta\t1\nu2\tb\t2\nu3\tc\t1\nu3\td\t2\nu4\td\t1\n");
  data::interaction_load_options o;
  o.user_core = o.item_core = 2;
  data::interaction_load_report rep;
  const auto d = data::load_interactions(f.path(), o, &rep);
  CHECK_FALSE(rep.header);
  CHECK(rep.delimiter == '\t');
  CHECK(rep.kcore_rounds == 4);
  CHECK(rep.kcore_interactions_removed == 4);
  CHECK(rep.kcore_users_removed == 2);
  CHECK(rep.kcore_items_removed == 2);
  CHECK(d.user_ids().externals() == svec{"u1", "u2"});
  CHECK(d.item_ids().externals() == svec{"a", "b"});
  CHECK(external_seq(d, 0) == svec{"a", "b"});
  CHECK(d.n_interactions() == 4);
  const auto counts = d.item_counts();
  CHECK(*std::min_element(counts.begin(), counts.end()) >= 2);

  // Without filtering everything stays.
  const auto all = data::load_interactions(f.path());
  CHECK(all.n_interactions() == 8);
  CHECK(all.n_users() == 4);
}

TEST_CASE("interactions: dedup keeps the earliest, integer ids in numeric order", "[data][interactions]") {
  temp_file f("int_dedup.txt", "7 30 100\n7 4 50\n7 30 10\n2 4 1\n");
  data::interaction_load_options o;
  o.dedup = true;
  o.user_ids = o.item_ids = data::id_kind::integer;
  data::interaction_load_report rep;
  const auto d = data::load_interactions(f.path(), o, &rep);
  CHECK(rep.delimiter == ' ');
  CHECK(rep.duplicates_removed == 1);
  CHECK(d.user_ids().externals() == svec{"2", "7"});
  CHECK(d.item_ids().externals() == svec{"4", "30"});
  CHECK(external_seq(d, 1) == svec{"30", "4"});  // (7,30) at t=10 kept, t=100 removed
  o.dedup = false;
  CHECK(data::load_interactions(f.path(), o).n_interactions() == 4);
}

TEST_CASE("interactions: columns by name and other delimiters", "[data][interactions]") {
  temp_file f("int_named.csv", "ts;rating;item;user\n5;4.0;i1;u1\n3;5.0;i2;u1\n");
  data::interaction_load_options o;
  o.user_name = "user";
  o.item_name = "item";
  o.time_name = "ts";
  const auto d = data::load_interactions(f.path(), o);
  CHECK(external_seq(d, 0) == svec{"i2", "i1"});
  o.time_name = "time";
  REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path(), o), f.path(), 1, "column not found");
}

TEST_CASE("interactions: malformed lines name the file, line and field", "[data][interactions]") {
  SECTION("empty user") {
    temp_file f("int_empty_user.csv", "u1,i1,1\n,i2,2\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path()), f.path(), 2, "field 'user'");
  }
  SECTION("empty item") {
    temp_file f("int_empty_item.csv", "u1,i1,1\nu1, ,2\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path()), f.path(), 2, "field 'item'");
  }
  SECTION("bad timestamp") {
    temp_file f("int_bad_time.csv", "u1,i1,1\nu1,i2,2020-01-01\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path()), f.path(), 2, "field 'timestamp'");
  }
  SECTION("wrong column count") {
    temp_file f("int_cols.csv", "user,item,timestamp\nu1,i1,1\nu1,i2,2,extra\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path()), f.path(), 3, "expected 3 fields");
  }
  SECTION("duplicate header") {
    temp_file f("int_duphdr.csv", "user,item,timestamp\nu1,i1,1\nuser,item,timestamp\nu2,i1,1\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path()), f.path(), 3, "duplicate header");
  }
  SECTION("non-integer id when ids are integers") {
    temp_file f("int_nonint.csv", "1,10,1\n1,1O,2\n");
    data::interaction_load_options o;
    o.item_ids = data::id_kind::integer;
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path(), o), f.path(), 2, "'1O'");
  }
  SECTION("too few columns") {
    temp_file f("int_narrow.csv", "u1,i1\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_interactions(f.path()), f.path(), 1, "has 2 fields");
  }
}

TEST_CASE("interactions: a shuffled Beauty log comes back as Beauty.txt", "[data][interactions][beauty]") {
  const auto ref = data::load_sequences(test::beauty_dir() + "/Beauty.txt");
  // One row per interaction, the position in the sequence as timestamp, rows shuffled.
  std::vector<std::string> rows;
  for (index_t u = 0; u < ref.n_users(); ++u) {
    const auto s = ref.sequence(u);
    for (index_t k = 0; k < s.size(); ++k)
      rows.push_back(ref.user_ids().external(u) + "\t" + ref.item_ids().external(s[k]) + "\t" +
                     std::to_string(1000 + 10 * k) + "\n");
  }
  rng g(7);
  g.shuffle(rows.begin(), rows.end());
  std::string text = "user_id\titem_id\ttimestamp\n";
  for (const auto& r : rows) text += r;
  temp_file f("int_beauty.tsv", text);

  data::interaction_load_options o;
  o.user_ids = o.item_ids = data::id_kind::integer;
  o.user_core = o.item_core = 5;  // Beauty is already 5-core: nothing may go
  data::interaction_load_report rep;
  const auto d = data::load_interactions(f.path(), o, &rep);
  CHECK(rep.kcore_interactions_removed == 0);
  CHECK(rep.kcore_rounds == 0);
  REQUIRE(d.n_users() == ref.n_users());
  CHECK(d.user_ids() == ref.user_ids());
  CHECK(d.item_ids() == ref.item_ids());
  CHECK(std::vector<index_t>(d.offsets().begin(), d.offsets().end()) ==
        std::vector<index_t>(ref.offsets().begin(), ref.offsets().end()));
  CHECK(std::vector<std::int32_t>(d.flat_items().begin(), d.flat_items().end()) ==
        std::vector<std::int32_t>(ref.flat_items().begin(), ref.flat_items().end()));

  // A 10-core filter removes data and reaches a fixed point: every count is >= 10 after it.
  o.user_core = o.item_core = 10;
  const auto d10 = data::load_interactions(f.path(), o, &rep);
  CHECK(rep.kcore_rounds > 1);
  CHECK(rep.kcore_interactions_removed == ref.n_interactions() - d10.n_interactions());
  CHECK(d10.stats().min_length >= 10);
  const auto c = d10.item_counts();
  CHECK(*std::min_element(c.begin(), c.end()) >= 10);
}
