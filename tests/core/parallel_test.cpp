#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include <reg4rec/core.hpp>

using namespace reg4rec;

TEST_CASE("parallel_for covers the range exactly once", "[core][parallel]") {
  for (index_t n : {0, 1, 5, 1000, 100003}) {
    std::vector<int> hits(static_cast<std::size_t>(n), 0);
    parallel_for(0, n, 7, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) ++hits[i];
    });
    bool once = true;
    for (int h : hits) once &= h == 1;
    CHECK(once);
  }
  std::vector<int> hits(5000, 0);
  parallel_for_dynamic(0, 5000, 64, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) ++hits[i];
  });
  bool once = true;
  for (int h : hits) once &= h == 1;
  CHECK(once);
}

TEST_CASE("an exception thrown in a worker reaches the caller", "[core][parallel]") {
  auto body = [](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i)
      if (i == 777) throw value_error("row 777 is bad");
  };
  CHECK_THROWS_WITH(parallel_for(0, 10000, 1, body), "row 777 is bad");
  CHECK_THROWS_WITH(parallel_for_dynamic(0, 10000, 10, body), "row 777 is bad");
}
