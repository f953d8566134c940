#include <catch2/catch.hpp>

#include <cstdint>

#include <reg4rec/core.hpp>

using namespace reg4rec;

TEST_CASE("workspace storage is aligned and frames release it", "[core][workspace]") {
  workspace ws;
  {
    auto f = ws.scope();
    auto a = ws.take<float>(3);
    auto b = ws.take<double>(5);
    CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % buffer_alignment == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % buffer_alignment == 0);
    CHECK(static_cast<void*>(b.data()) != static_cast<void*>(a.data()));
    {
      auto g = ws.scope();
      auto c = ws.take<float>(10);
      c[9] = 1.0f;
    }
    auto d = ws.take<float>(10);  // reuses the inner frame's memory
    CHECK(d.size() == 10);
  }
  auto f = ws.scope();
  auto e = ws.take<char>(1);
  CHECK(e.size() == 1);
}

TEST_CASE("a loop over the workspace stops allocating after the first round", "[core][workspace]") {
  workspace ws;
  std::size_t cap_after_first = 0;
  for (int round = 0; round < 5; ++round) {
    auto f = ws.scope();
    // Grows past the first block several times within a round.
    for (int k = 0; k < 6; ++k) {
      auto s = ws.take<float>(index_t(40000) << k);
      s[s.size() - 1] = 1.0f;  // the memory is usable
    }
    if (round == 0) continue;
    if (round == 1) cap_after_first = ws.capacity();
    CHECK(ws.capacity() == cap_after_first);
  }
  // Once merged, a round's requests fit in one block.
  CHECK(ws.high_water() <= ws.capacity());
}

TEST_CASE("memory taken outside a frame survives frames closing", "[core][workspace]") {
  workspace ws;
  auto keep = ws.take<int>(4);
  keep[0] = 42;
  {
    auto f = ws.scope();
    auto big = ws.take<float>(1 << 20);
    big[0] = 1.0f;
  }
  CHECK(keep[0] == 42);
}
