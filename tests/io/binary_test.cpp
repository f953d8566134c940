#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <reg4rec/core.hpp>
#include <reg4rec/io.hpp>

#include "test_util.hpp"

using namespace reg4rec;

namespace {
std::string temp_path(const std::string& name) {
  return std::string("/tmp/reg4rec_io_test_") + std::to_string(::getpid()) + "_" + name;
}
void write_sample(const std::string& path) {
  io::binary_writer w(path, "sample");
  const auto m = test::random_matrix<float>(3, 4, 1);
  w.put_matrix<float>("weights", m);
  w.put("ids", std::vector<std::int32_t>{5, 6, 7});
  w.put_scalar<std::int64_t>("step", 42);
  w.put_string("note", "hello");
  w.commit();
}
std::string slurp(const std::string& p) { return io::read_file(p); }
void spit(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}
}  // namespace

TEST_CASE("binary container round-trips every record type", "[io][binary]") {
  const auto path = temp_path("roundtrip.r4r");
  write_sample(path);
  io::binary_reader r(path, "sample");
  CHECK(r.kind() == "sample");
  const auto m = r.get_matrix<float>("weights");
  CHECK(m == test::random_matrix<float>(3, 4, 1));
  CHECK(r.get_vector<std::int32_t>("ids") == std::vector<std::int32_t>{5, 6, 7});
  CHECK(r.get_scalar<std::int64_t>("step") == 42);
  CHECK(r.get_string("note") == "hello");
  CHECK(r.names().size() == 4);
  std::remove(path.c_str());
}

TEST_CASE("binary container round-trips empty records", "[io][binary]") {
  // An empty record's destination may have a null data(): reading it must not pass that to
  // memcpy (UBSan reported it on a checkpoint with an empty data cursor).
  const auto path = temp_path("empty.r4r");
  {
    io::binary_writer w(path, "sample");
    w.put("cursor", std::vector<std::int64_t>{});
    const matrix<float> none(0, 3);
    w.put_matrix<float>("none", none);
    w.commit();
  }
  io::binary_reader r(path, "sample");
  CHECK(r.get_vector<std::int64_t>("cursor").empty());
  const auto m = r.get_matrix<float>("none");
  CHECK(m.rows() == 0);
  CHECK(m.cols() == 3);
  std::vector<std::int64_t> out;
  r.get<std::int64_t>("cursor", span<std::int64_t>(out.data(), 0));
  std::remove(path.c_str());
}

TEST_CASE("binary container rejects bad files with the file and record named", "[io][binary]") {
  const auto path = temp_path("bad.r4r");
  write_sample(path);
  const std::string good = slurp(path);

  SECTION("truncated at every length") {
    for (std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(30), good.size() / 2, good.size() - 1}) {
      spit(path, good.substr(0, cut));
      CHECK_THROWS_AS(io::binary_reader(path, "sample"), checkpoint_error);
    }
  }
  SECTION("one flipped byte anywhere") {
    for (std::size_t at : {std::size_t(20), good.size() / 2, good.size() - 30}) {
      std::string bad = good;
      bad[at] = static_cast<char>(bad[at] ^ 0x10);
      spit(path, bad);
      CHECK_THROWS_AS(io::binary_reader(path, "sample"), checkpoint_error);
    }
  }
  SECTION("a foreign file") {
    spit(path, std::string(100, 'x'));
    CHECK_THROWS_WITH(io::binary_reader(path, "sample"), Catch::Contains("not a reg4rec file"));
  }
  SECTION("the wrong kind, a missing record, the wrong shape or type") {
    CHECK_THROWS_WITH(io::binary_reader(path, "checkpoint"), Catch::Contains("expected a 'checkpoint'"));
    io::binary_reader r(path, "sample");
    CHECK_THROWS_WITH(r.get_vector<float>("bias"), Catch::Contains("'bias'") && Catch::Contains("missing"));
    std::vector<float> out(12);
    CHECK_THROWS_WITH(r.get<float>("weights", out, {4, 3}), Catch::Contains("shape (3, 4)"));
    CHECK_THROWS_WITH(r.get_vector<double>("weights"), Catch::Contains("float32"));
    CHECK_THROWS_WITH(r.get_vector<float>("bias"), Catch::Contains(path));
  }
  SECTION("a missing file") {
    CHECK_THROWS_AS(io::binary_reader(path + ".nope", ""), io_error);
  }
  std::remove(path.c_str());
}

TEST_CASE("atomic writes leave the old file intact until commit", "[io][atomic]") {
  const auto path = temp_path("atomic.txt");
  io::write_file_atomic(path, "old");
  {
    io::atomic_file f(path);
    f.write("new content");
    // destroyed without commit: an interrupted write
  }
  CHECK(slurp(path) == "old");
  io::write_file_atomic(path, "new");
  CHECK(slurp(path) == "new");
  CHECK_THROWS_AS(io::write_file_atomic("/nonexistent-dir/x.txt", "x"), io_error);
  std::remove(path.c_str());
}

TEST_CASE("json writer produces valid, ordered JSON", "[io][json]") {
  io::json_writer j(false);
  j.begin_object()
      .field("model", "tiger")
      .field("recall@10", 0.0712)
      .field("users", 22363)
      .field("bad", std::nan(""))
      .key("list")
      .begin_array()
      .value(1)
      .value("a\"b")
      .end_array()
      .key("empty")
      .begin_object()
      .end_object()
      .end_object();
  CHECK(j.str() ==
        R"({"model":"tiger","recall@10":0.0712,"users":22363,"bad":null,"list":[1,"a\"b"],"empty":{}})");
  io::json_writer open;
  open.begin_object();
  CHECK_THROWS_AS(open.str(), argument_error);
}

TEST_CASE("progress prints plain lines when not on a terminal", "[core][progress]") {
  std::ostringstream os;
  {
    progress p("epoch 1", 10, &os, "batches");
    for (int i = 0; i < 10; ++i) p.advance(1, "loss 1.5");
    p.finish("loss 1.0");
  }
  const std::string s = os.str();
  CHECK(s.find("epoch 1 10/10 batches (100%)") != std::string::npos);
  CHECK(s.find("loss 1.0") != std::string::npos);
  CHECK(s.find('\r') == std::string::npos);
  progress quiet("x", 3, nullptr);
  quiet.advance(3);
  CHECK(quiet.done() == 3);
}
