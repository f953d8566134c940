#include <catch2/catch.hpp>

#include <reg4rec/data/item_metadata.hpp>
#include <reg4rec/data/sequence_loader.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

namespace {
const std::string hdr = "item_id\tasin\ttitle\tattribute_ids\tattributes\tidgenrec_text\n";
const std::string row1 = "1\tA1\tRed Nail Polish\t10,1,2\tAcme | Makeup | Nails\tred polish\n";
const std::string row2 = "2\tA2\tFace Cream\t3,4\tSkin Care | Face\tcream\n";
const std::string row3 = "3\tA3\tLip Gloss\t1,5\tMakeup | Lips\tgloss\n";
const std::string row4 = "4\tA4\tNight Cream\t12,3,4\tAcme2 | Skin Care | Face\tnight\n";

data::id_map items_1_to_4() { return data::id_map({"1", "2", "3", "4"}); }
}  // namespace

TEST_CASE("item metadata: columns by name, brand and leaf category", "[data][metadata]") {
  temp_file f("meta_ok.tsv", hdr + row2 + row1 + row3 + row4);
  const auto m = data::load_item_metadata(f.path(), items_1_to_4());
  REQUIRE(m.n_items() == 4);
  CHECK(m.has_titles());
  CHECK(m.has_attribute_names());
  CHECK(m[0].title == "Red Nail Polish");
  CHECK(m[0].asin == "A1");
  CHECK(m[0].text == "red polish");
  CHECK(m[0].line == 3);
  CHECK(m[0].attribute_ids == std::vector<std::int32_t>{10, 1, 2});
  // "Makeup" and "Skin Care" open some paths and follow a brand in others: top-level.
  CHECK(m.root_categories() == std::vector<std::string>{"Makeup", "Skin Care"});
  CHECK(m[0].brand == "Acme");
  CHECK(m[0].categories == std::vector<std::string>{"Makeup", "Nails"});
  CHECK(m[1].brand.empty());
  CHECK(m[1].categories == std::vector<std::string>{"Skin Care", "Face"});
  CHECK(m.items_with_brand() == 2);
  CHECK(m[2].brand.empty());
  // Leaf ids in order of first appearance over items 0..3: Nails, Face, Lips.
  CHECK(m.leaf_category() == std::vector<std::int32_t>{0, 1, 2, 1});
  CHECK(m.category_names() == std::vector<std::string>{"Nails", "Face", "Lips"});
  // Cut to the top level: Makeup, Skin Care; depth 2 is the whole of these short paths.
  std::vector<std::string> names;
  CHECK(m.category_at_depth(1, &names) == std::vector<std::int32_t>{0, 1, 0, 1});
  CHECK(names == std::vector<std::string>{"Makeup", "Skin Care"});
  CHECK(m.category_at_depth(5, &names) == std::vector<std::int32_t>{0, 1, 2, 1});
  CHECK(names == std::vector<std::string>{"Makeup | Nails", "Skin Care | Face", "Makeup | Lips"});
  CHECK_THROWS_AS(m.category_at_depth(0), argument_error);
}

TEST_CASE("item metadata: id-only attributes (Toys layout), columns in any order", "[data][metadata]") {
  temp_file f("meta_ids.tsv",
              "asin\tidgenrec_text\titem_id\tattribute_ids\n"
              "A1\tyo-yo\t1\t7,2,20\nA2\tcrayons\t2\t8,2,21,22\nA3\tblocks\t3\t7,2,22\n");
  const auto m = data::load_item_metadata(f.path(), data::id_map({"1", "2", "3"}));
  CHECK_FALSE(m.has_titles());
  CHECK_FALSE(m.has_attribute_names());
  CHECK(m[1].text == "crayons");
  CHECK(m[1].brand == "attr8");
  CHECK(m[1].categories == std::vector<std::string>{"attr2", "attr21", "attr22"});
  CHECK(m.leaf_category() == std::vector<std::int32_t>{0, 1, 1});
  CHECK(m.category_names() == std::vector<std::string>{"attr20", "attr22"});
}

TEST_CASE("item metadata: malformed files name the file, line and column", "[data][metadata]") {
  const auto ids = items_1_to_4();
  SECTION("empty file") {
    temp_file f("meta_empty.tsv", "");
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 1, "header");
  }
  SECTION("missing required column") {
    temp_file f("meta_noid.tsv", "asin\ttitle\nA1\tx\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 1, "'item_id'");
  }
  SECTION("column named twice") {
    temp_file f("meta_twice.tsv", "item_id\ttitle\ttitle\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 1, "named twice");
  }
  SECTION("duplicate header line") {
    temp_file f("meta_duphdr.tsv", hdr + row1 + hdr + row2 + row3 + row4);
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 3, "duplicate header");
  }
  SECTION("wrong column count") {
    temp_file f("meta_cols.tsv", hdr + row1 + "2\tA2\tFace Cream\t3,4\n" + row3 + row4);
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 3, "expected 6 tab-separated columns");
  }
  SECTION("unknown item") {
    temp_file f("meta_unknown.tsv", hdr + row1 + "9\tA9\tx\t1\tMakeup\tx\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 3, "unknown item id '9'");
  }
  SECTION("item twice") {
    temp_file f("meta_dupitem.tsv", hdr + row1 + row2 + row1);
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 4, "first on line 2");
  }
  SECTION("bad attribute id") {
    temp_file f("meta_badattr.tsv", hdr + "1\tA1\tx\t10,b,2\tAcme | Makeup | Nails\tx\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 2, "'attribute_ids'");
  }
  SECTION("names and ids disagree") {
    temp_file f("meta_mismatch.tsv", hdr + "1\tA1\tx\t10,1\tAcme | Makeup | Nails\tx\n");
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 2, "3 names for 2 attribute ids");
  }
  SECTION("dataset item without a row, unless allowed and counted") {
    temp_file f("meta_missing.tsv", hdr + row1 + row2 + row4);
    REG4REC_CHECK_FORMAT_ERROR(data::load_item_metadata(f.path(), ids), f.path(), 0, "no row for item 3");
    data::item_metadata_options o;
    o.require_all_items = false;
    const auto m = data::load_item_metadata(f.path(), ids, o);
    CHECK(m.missing_items() == 1);
    CHECK_FALSE(m[2].present);
    CHECK(m.leaf_category()[2] == -1);
  }
}

TEST_CASE("item metadata: bundled Beauty", "[data][metadata][beauty]") {
  const auto d = data::load_sequences(test::beauty_dir() + "/Beauty.txt");
  const auto m = data::load_item_metadata(test::beauty_dir() + "/items.tsv", d.item_ids());
  REQUIRE(m.n_items() == 12101);
  CHECK(m.missing_items() == 0);
  CHECK(m[0].title == "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce");
  CHECK(m[0].brand == "OPI");
  CHECK(m[0].categories == std::vector<std::string>{"Makeup", "Nails", "Nail Polish"});
  CHECK(m.category_names()[static_cast<std::size_t>(m.leaf_category()[0])] == "Nail Polish");
  CHECK(m[3].brand.empty());  // item 4: "Makeup | Face | Concealers & Neutralizers"
  CHECK(m.root_categories() == std::vector<std::string>{"Bath & Body", "Fragrance", "Hair Care", "Makeup",
                                                        "Skin Care", "Tools & Accessories"});
  CHECK(m.items_with_brand() == 7494);
  index_t no_leaf = 0;
  for (auto c : m.leaf_category()) no_leaf += c < 0;
  CHECK(no_leaf == 0);
  CHECK(m.n_categories() == 195);  // leaf names; 227 distinct full paths
  std::vector<std::string> names;
  m.category_at_depth(1, &names);
  CHECK(names.size() == 6);
  m.category_at_depth(2, &names);
  CHECK(names.size() == 46);
}

TEST_CASE("item metadata: Toys from ../shared (skipped when absent)", "[data][metadata][toys]") {
  const std::string dir = test::toys_dir();
  if (!test::file_exists(dir + "/items.tsv")) {
    WARN("skipped: " << dir << "/items.tsv not found");
    return;
  }
  const auto d = data::load_sequences(dir + "/Toys_and_Games.txt");
  const auto m = data::load_item_metadata(dir + "/items.tsv", d.item_ids());
  CHECK(m.n_items() == 11924);
  CHECK(m.missing_items() == 0);
  CHECK(m[0].text == "pocoyo and friends swiggle");
  CHECK(m[0].brand == "attr399");
  CHECK(m.items_with_brand() == 11924);
  CHECK(m.category_names()[static_cast<std::size_t>(m.leaf_category()[0])] == "attr262");
}
