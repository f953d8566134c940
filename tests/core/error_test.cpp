#include <catch2/catch.hpp>

#include <reg4rec/core.hpp>

using namespace reg4rec;

TEST_CASE("format_error names the file, the line and the field", "[core][error]") {
  const format_error e("data/seq.txt", 12, "item", "not an integer: 'x1'");
  CHECK(std::string(e.what()) == "data/seq.txt:12: field 'item': not an integer: 'x1'");
  CHECK(e.path() == "data/seq.txt");
  CHECK(e.line() == 12);
  CHECK(e.field() == "item");
}

TEST_CASE("every error derives from reg4rec::error", "[core][error]") {
  CHECK_THROWS_AS(throw dimension_error("d"), error);
  CHECK_THROWS_AS(throw value_error("v"), error);
  CHECK_THROWS_AS(throw argument_error("a"), error);
  CHECK_THROWS_AS(throw not_found_error("n"), error);
  CHECK_THROWS_AS(throw numerical_error("n"), error);
  CHECK_THROWS_AS(throw checkpoint_error("ckpt.bin", "header", "truncated"), format_error);
  CHECK_THROWS_AS(throw io_error("x", "cannot open"), error);
}

TEST_CASE("check_dim and require report the dimension and the message", "[core][error]") {
  CHECK_NOTHROW(check_dim("columns of x", 4, 4));
  try {
    check_dim("columns of x", 3, 4);
    FAIL("no throw");
  } catch (const dimension_error& e) {
    CHECK(std::string(e.what()) == "columns of x: expected 4, got 3");
  }
  CHECK_THROWS_WITH(require(false, "beam width must be positive, got ", 0),
                    "beam width must be positive, got 0");
}
