// The bad-input catalogue (docs/robustness.md lists it): malformed files, bad API calls and bad
// command lines. Every row must fail with a reg4rec::error of the expected kind whose one-line
// message names the problem (the substrings given), and must leave an existing output file
// intact with no temporary file left behind. CLI rows run the built `reg4rec` program and
// check its exit code, a one-line message on stderr, and that earlier outputs survive.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <reg4rec/data/interaction_loader.hpp>
#include <reg4rec/data/item_metadata.hpp>
#include <reg4rec/data/sequence_loader.hpp>
#include <reg4rec/data/split.hpp>
#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>
#include <reg4rec/io/checkpoint.hpp>
#include <reg4rec/io/npy.hpp>
#include <reg4rec/model/generator_trainer.hpp>
#include <reg4rec/model/sasrec.hpp>
#include <reg4rec/quant/kmeans.hpp>
#include <reg4rec/quant/posting_index.hpp>
#include <reg4rec/quant/prefix_trie.hpp>
#include <reg4rec/quant/residual_kmeans.hpp>
#include <reg4rec/quant/sid_table.hpp>

#include "robustness/robustness_util.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {

enum class kind { io, format, checkpoint, dimension, value, argument, not_found, numerical };

const char* kind_name(kind k) {
  switch (k) {
    case kind::io: return "io_error";
    case kind::format: return "format_error";
    case kind::checkpoint: return "checkpoint_error";
    case kind::dimension: return "dimension_error";
    case kind::value: return "value_error";
    case kind::argument: return "argument_error";
    case kind::not_found: return "not_found_error";
    case kind::numerical: return "numerical_error";
  }
  return "?";
}

bool is_kind(const reg4rec::error& e, kind k) {
  switch (k) {
    case kind::io: return dynamic_cast<const io_error*>(&e) != nullptr;
    case kind::format: return dynamic_cast<const format_error*>(&e) != nullptr;
    case kind::checkpoint: return dynamic_cast<const checkpoint_error*>(&e) != nullptr;
    case kind::dimension: return dynamic_cast<const dimension_error*>(&e) != nullptr;
    case kind::value: return dynamic_cast<const value_error*>(&e) != nullptr;
    case kind::argument: return dynamic_cast<const argument_error*>(&e) != nullptr;
    case kind::not_found: return dynamic_cast<const not_found_error*>(&e) != nullptr;
    case kind::numerical: return dynamic_cast<const numerical_error*>(&e) != nullptr;
  }
  return false;
}

// What a row gets: its own folder, holding `existing.out` (an earlier output that must
// survive), and the path of that file (rows that write, write there).
struct row_env {
  std::string dir, existing;
  std::string file(const std::string& name) const { return dir + "/" + name; }
  std::string put(const std::string& name, const std::string& content) const {
    test::write_text(file(name), content);
    return file(name);
  }
};

struct bad_case {
  const char* id;
  const char* what;  // the malformed input, in words (the catalogue of docs/robustness.md)
  kind expected;
  std::vector<std::string> message;  // substrings the error message must contain
  std::function<void(const row_env&)> run;
};

const std::string previous = "previous output, must survive\n";

// ---- fixtures ------------------------------------------------------------------------------

std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string d = dict;
  const std::size_t total = 10 + d.size() + 1;
  d.append((total + 63) / 64 * 64 - total, ' ');
  d += '\n';
  std::string h("\x93NUMPY\x01\x00", 8);
  h += static_cast<char>(d.size() & 0xff);
  h += static_cast<char>(d.size() >> 8);
  return h + d + data;
}
std::string floats(std::initializer_list<float> v) {
  std::string s;
  for (float x : v) s.append(reinterpret_cast<const char*>(&x), sizeof x);
  return s;
}

void checkpoint_model(nn::parameter_store<float>& ps, index_t rows = 5) {
  ps.add("embed.weight", rows, 3, false);
  ps.add("proj.weight", 3, 3, true);
}

std::string write_checkpoint(const row_env& env, const std::string& name) {
  nn::parameter_store<float> ps;
  checkpoint_model(ps);
  auto st = optim::adamw().init(ps);
  io::train_state ts;
  ts.step = 3;
  io::save_checkpoint<float>(env.file(name), ps, &st, ts);
  return env.file(name);
}

void load_into_model(const std::string& path) {
  nn::parameter_store<float> ps;
  checkpoint_model(ps);
  optim::adamw::state<float> st;
  io::train_state ts;
  io::load_checkpoint<float>(path, ps, &st, ts);
}

// Rewrites the footer of a container file so that its checksum matches again (for damage
// that the checksum would otherwise catch first).
std::string refooter(std::string file) {
  const std::size_t body = file.size() - 20;
  const std::uint32_t crc = io::crc32(file.data(), body);
  std::memcpy(&file[body + 16], &crc, 4);
  return file;
}

model::sid_generator<float> tiny_generator() {
  const auto codes = test::tiny_codes();
  return model::sid_generator<float>(test::tiny_generator_config(), model::sid_layout::from_codes(codes), codes, 3);
}

matrix<float> features(index_t n, index_t d) { return test::random_matrix<float>(n, d, 11); }

// ---- the catalogue -------------------------------------------------------------------------

std::vector<bad_case> catalogue() {
  std::vector<bad_case> c;
  // Sequence files.
  c.push_back({"seq-token", "sequence file: an item id that is not an integer", kind::format,
               {"seq.txt:2", "item 2", "'2x'"},
               [](const row_env& e) { data::load_sequences(e.put("seq.txt", "1 1 2\n2 3 2x 4\n")); }});
  c.push_back({"seq-negative", "sequence file: a negative item id", kind::format, {"seq.txt:1", "'-2'"},
               [](const row_env& e) { data::load_sequences(e.put("seq.txt", "1 1 -2 3\n")); }});
  c.push_back({"seq-user-twice", "sequence file: a user on two lines", kind::format,
               {"seq.txt:3", "user 1 appears twice (first on line 1)"},
               [](const row_env& e) { data::load_sequences(e.put("seq.txt", "1 1 2\n2 2 3\n1 4 5\n")); }});
  c.push_back({"seq-no-items", "sequence file: a user without items", kind::format, {"seq.txt:2", "has no items"},
               [](const row_env& e) { data::load_sequences(e.put("seq.txt", "1 1 2\n2\n")); }});
  c.push_back({"seq-empty", "sequence file: empty (empty dataset)", kind::format, {"seq.txt", "no users"},
               [](const row_env& e) { data::load_sequences(e.put("seq.txt", "\n  \n")); }});
  c.push_back({"seq-missing", "sequence file: the path does not exist", kind::io,
               {"nowhere.txt", "cannot open", "No such file"},
               [](const row_env& e) { data::load_sequences(e.file("nowhere.txt")); }});
  c.push_back({"seq-directory", "sequence file: the path is a folder", kind::io, {"read failed", "Is a directory"},
               [](const row_env& e) { data::load_sequences(e.dir); }});
  c.push_back({"seq-not-a-dir", "sequence file: a path through a regular file", kind::io,
               {"existing.out/seq.txt", "Not a directory"},
               [](const row_env& e) { data::load_sequences(e.existing + "/seq.txt"); }});
  // items.tsv.
  const data::id_map items({"1", "2", "3"});
  c.push_back({"items-no-id-column", "items.tsv: the item_id column is missing", kind::format,
               {"items.tsv:1", "item_id", "missing required column"},
               [items](const row_env& e) { data::load_item_metadata(e.put("items.tsv", "asin\ttitle\nB1\tx\n"), items); }});
  c.push_back({"items-unknown", "items.tsv: an item that is not in the dataset", kind::format,
               {"items.tsv:3", "unknown item id '99'"}, [items](const row_env& e) {
                 data::load_item_metadata(e.put("items.tsv", "item_id\ttitle\n1\ta\n99\tb\n"), items, {false});
               }});
  c.push_back({"items-columns", "items.tsv: a row with too many columns", kind::format,
               {"items.tsv:2", "expected 2 tab-separated columns", "got 3"}, [items](const row_env& e) {
                 data::load_item_metadata(e.put("items.tsv", "item_id\ttitle\n1\ta\tb\n"), items, {false});
               }});
  c.push_back({"items-attribute-ids", "items.tsv: a non-integer attribute id", kind::format,
               {"items.tsv:2", "attribute_ids", "'4,x'"}, [items](const row_env& e) {
                 data::load_item_metadata(e.put("items.tsv", "item_id\tattribute_ids\n1\t4,x\n"), items, {false});
               }});
  c.push_back({"items-missing-row", "items.tsv: a dataset item without a row", kind::format,
               {"items.tsv", "no row for item 3"}, [items](const row_env& e) {
                 data::load_item_metadata(e.put("items.tsv", "item_id\ttitle\n1\ta\n2\tb\n"), items);
               }});
  // Interaction logs.
  c.push_back({"csv-timestamp", "interactions CSV: a timestamp that is not a number", kind::format,
               {"log.csv:3", "timestamp", "'yesterday'"}, [](const row_env& e) {
                 data::load_interactions(e.put("log.csv", "user,item,time\nu1,i1,5\nu1,i2,yesterday\n"));
               }});
  c.push_back({"csv-fields", "interactions CSV: a row with a missing field", kind::format,
               {"log.csv:2", "expected 3 fields like the first line, got 2"},
               [](const row_env& e) { data::load_interactions(e.put("log.csv", "u1,i1,5\nu2,i2\n")); }});
  c.push_back({"csv-empty-user", "interactions CSV: an empty user id", kind::format, {"log.csv:2", "empty user id"},
               [](const row_env& e) { data::load_interactions(e.put("log.csv", "u1,i1,5\n,i2,6\n")); }});
  c.push_back({"csv-column-name", "interactions CSV: a requested column name that is absent", kind::format,
               {"log.csv:1", "stamp", "column not found"}, [](const row_env& e) {
                 data::interaction_load_options o;
                 o.time_name = "stamp";
                 data::load_interactions(e.put("log.csv", "user,item,time\nu1,i1,5\n"), o);
               }});
  c.push_back({"csv-empty", "interactions CSV: header only (empty dataset)", kind::format,
               {"log.csv", "no interactions"},
               [](const row_env& e) { data::load_interactions(e.put("log.csv", "user,item,time\n")); }});
  c.push_back({"csv-kcore-empty", "interactions CSV: a k-core filter that removes everything", kind::format,
               {"log.csv", "k-core", "removed all 3 interactions"}, [](const row_env& e) {
                 data::interaction_load_options o;
                 o.user_core = o.item_core = 5;
                 data::load_interactions(e.put("log.csv", "u1,i1,1\nu1,i2,2\nu2,i1,3\n"), o);
               }});
  // .npy files.
  c.push_back({"npy-magic", ".npy: not a NumPy file", kind::format, {"x.npy", "not a .npy file"},
               [](const row_env& e) { io::read_npy<float>(e.put("x.npy", "PK\x03\x04 a zip file")); }});
  c.push_back({"npy-truncated", ".npy: data shorter than the shape", kind::format,
               {"x.npy", "truncated", "needs 24 data bytes, the file has 4"}, [](const row_env& e) {
                 io::read_npy<float>(e.put("x.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                                                             floats({1.f}))));
               }});
  c.push_back({"npy-fortran", ".npy: Fortran order", kind::format, {"fortran_order", "ascontiguousarray"},
               [](const row_env& e) {
                 io::read_npy<float>(e.put("x.npy", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }",
                                                             floats({1.f, 2.f}))));
               }});
  c.push_back({"npy-big-endian", ".npy: big-endian floats", kind::format, {"descr", "'>f4'"}, [](const row_env& e) {
                 io::read_npy<float>(e.put("x.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                                                             floats({1.f, 2.f}))));
               }});
  c.push_back({"npy-3d", ".npy: a 3-D array (wrong dimensions)", kind::format, {"shape", "got 3 dimensions"},
               [](const row_env& e) {
                 io::read_npy<float>(e.put(
                     "x.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", floats({1.f, 2.f}))));
               }});
  c.push_back({"npy-int-range", ".npy: an int64 id that does not fit int32", kind::format,
               {"value 1099511627776 at element 0"}, [](const row_env& e) {
                 const std::int64_t big = std::int64_t(1) << 40;
                 io::read_npy<std::int32_t>(e.put("x.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                                                                     std::string(reinterpret_cast<const char*>(&big), 8))));
               }});
  // Features.
  c.push_back({"features-nan", "features: NaN in an item vector", kind::value, {"row 3", "non-finite", "column 1"},
               [](const row_env&) {
                 auto x = features(20, 4);
                 x(3, 1) = std::numeric_limits<float>::quiet_NaN();
                 quant::rq_kmeans(2, 4).fit(x);
               }});
  c.push_back({"features-inf", "features: Inf in an item vector", kind::value, {"row 7", "non-finite", "inf"},
               [](const row_env&) {
                 auto x = features(20, 4);
                 x(7, 0) = std::numeric_limits<float>::infinity();
                 quant::kmeans<>(4).fit(x);
               }});
  c.push_back({"features-dims", "features: vectors of the wrong width for a fitted quantizer", kind::dimension,
               {"columns"}, [](const row_env&) {
                 quant::rq_kmeans q(2, 4);
                 const auto train = features(20, 4), wide = features(5, 6);
                 q.fit(train);
                 q.encode(wide);
               }});
  c.push_back({"k-over-catalogue", "K larger than the catalogue (k-means)", kind::argument,
               {"K = 50 exceeds the number of training vectors n = 20"},
               [](const row_env&) {
                 const auto x = features(20, 4);
                 quant::kmeans<>(50).fit(x);
               }});
  c.push_back({"sid-codes-range", "SID table: a code outside [0, K)", kind::value, {"code 5", "row 1", "[0, 3)"},
               [](const row_env&) {
                 matrix<std::int32_t> codes(2, 2);
                 codes << 0, 1, 2, 5;
                 quant::sid_table<quant::append_dedup_token>::build(codes, 3);
               }});
  // Checkpoints and saved models.
  c.push_back({"ckpt-truncated", "checkpoint: truncated", kind::checkpoint, {"ckpt", "truncated"},
               [](const row_env& e) {
                 const auto p = write_checkpoint(e, "ckpt");
                 const auto bytes = test::read_text(p);
                 test::write_text(p, bytes.substr(0, bytes.size() / 2));
                 load_into_model(p);
               }});
  c.push_back({"ckpt-corrupted", "checkpoint: one byte flipped", kind::checkpoint, {"ckpt", "checksum mismatch"},
               [](const row_env& e) {
                 const auto p = write_checkpoint(e, "ckpt");
                 auto bytes = test::read_text(p);
                 bytes[bytes.size() / 2] ^= 0x20;
                 test::write_text(p, bytes);
                 load_into_model(p);
               }});
  c.push_back({"ckpt-foreign", "checkpoint: a SID table file given as checkpoint", kind::checkpoint,
               {"holds a 'sid_table', expected a 'checkpoint'"}, [](const row_env& e) {
                 const auto codes = test::tiny_codes();
                 quant::sid_table<quant::append_dedup_token>::build(codes, 3).save(e.file("table"));
                 load_into_model(e.file("table"));
               }});
  c.push_back({"ckpt-other-model", "checkpoint: of a model with other parameters", kind::checkpoint,
               {"param_names", "another model", "'head.weight'"}, [](const row_env& e) {
                 const auto p = write_checkpoint(e, "ckpt");
                 nn::parameter_store<float> ps;
                 ps.add("embed.weight", 5, 3, false);
                 ps.add("head.weight", 3, 3, true);
                 io::train_state ts;
                 io::load_checkpoint<float>(p, ps, nullptr, ts);
               }});
  c.push_back({"ckpt-other-shape", "checkpoint: same names, another shape", kind::checkpoint,
               {"param/embed.weight", "shape (5, 3) does not match the expected (7, 3)"}, [](const row_env& e) {
                 const auto p = write_checkpoint(e, "ckpt");
                 nn::parameter_store<float> ps;
                 checkpoint_model(ps, 7);
                 io::train_state ts;
                 io::load_checkpoint<float>(p, ps, nullptr, ts);
               }});
  c.push_back({"ckpt-newer", "checkpoint: written by a newer format version", kind::checkpoint,
               {"format version 9 is newer"}, [](const row_env& e) {
                 const auto p = write_checkpoint(e, "ckpt");
                 auto bytes = test::read_text(p);
                 bytes[8] = 9;
                 test::write_text(p, refooter(bytes));
                 load_into_model(p);
               }});
  c.push_back({"ckpt-text", "checkpoint: a text file", kind::checkpoint, {"not a reg4rec file"},
               [](const row_env& e) { load_into_model(e.put("ckpt", std::string(64, 'x'))); }});
  c.push_back({"ckpt-shape-bytes", "checkpoint: a record whose shape disagrees with its size (valid checksum)",
               kind::checkpoint, {"param/embed.weight", "its shape (5, 3)", "needs 60"}, [](const row_env& e) {
                 const auto p = write_checkpoint(e, "ckpt");
                 auto bytes = test::read_text(p);
                 // The record header of param/embed.weight: name, dtype, ndim, dims, byte count.
                 const std::string name = "param/embed.weight";
                 const std::size_t at = bytes.find(name) + name.size() + 2 + 16;
                 const std::uint64_t lie = 56;  // 14 floats instead of 15
                 std::memcpy(&bytes[at], &lie, 8);
                 bytes.erase(at + 8 + 56, 4);
                 test::write_text(p, refooter(bytes));
                 load_into_model(p);
               }});
  c.push_back({"table-shape-bytes", "SID table: the SID matrix's shape smaller than its data (valid checksum)",
               kind::checkpoint, {"table", "sids", "its shape (2, 3)", "needs 24"}, [](const row_env& e) {
                 const auto codes = test::tiny_codes();
                 quant::sid_table<quant::append_dedup_token>::build(codes, 3).save(e.file("table"));
                 auto bytes = test::read_text(e.file("table"));
                 const std::string name = "sids";
                 const std::size_t at = bytes.find(name) + name.size() + 2;  // first dimension
                 const std::int64_t rows = 2;                                  // 6 rows of data
                 std::memcpy(&bytes[at], &rows, 8);
                 test::write_text(e.file("table"), refooter(bytes));
                 quant::sid_table<quant::append_dedup_token> t;
                 t.load(e.file("table"));
               }});
  c.push_back({"model-config", "saved generator: a configuration far larger than the file", kind::checkpoint,
               {"config", "larger model than the file"}, [](const row_env& e) {
                 tiny_generator().save(e.file("gen"));
                 auto bytes = test::read_text(e.file("gen"));
                 const std::string name = "config.int";
                 const std::size_t at = bytes.find(name) + name.size() + 2 + 8 + 8;  // first value: d_model
                 const std::int64_t huge = std::int64_t(1) << 40;
                 std::memcpy(&bytes[at], &huge, 8);
                 // keep d_model a multiple of heads
                 test::write_text(e.file("gen"), refooter(bytes));
                 model::sid_generator<float>::load(e.file("gen"));
               }});
  c.push_back({"model-config-dropout", "saved generator: attention dropout 1.5 in its configuration", kind::checkpoint,
               {"config.real", "dropout rates must lie in [0, 1)", "1.5 (attention)"}, [](const row_env& e) {
                 tiny_generator().save(e.file("gen"));
                 auto bytes = test::read_text(e.file("gen"));
                 const std::string name = "config.real";
                 // Values: dropout, label smoothing, embedding std, embedding dropout, attention dropout, scale.
                 const std::size_t at = bytes.find(name) + name.size() + 2 + 8 + 8 + 4 * 8;
                 const double bad = 1.5;
                 std::memcpy(&bytes[at], &bad, 8);
                 test::write_text(e.file("gen"), refooter(bytes));
                 model::sid_generator<float>::load(e.file("gen"));
               }});
  // API calls on SIDs, decoding and training.
  c.push_back({"sid-unknown-item", "SID lookup: an item with no SID", kind::not_found,
               {"unknown item id 6", "holds 6 items"}, [](const row_env&) {
                 const auto codes = test::tiny_codes();
                 quant::sid_table<quant::append_dedup_token>::build(codes, 3).sid(6);
               }});
  c.push_back({"sid-negative-item", "SID lookup: a negative item id", kind::not_found, {"unknown item id -1"},
               [](const row_env&) {
                 const auto codes = test::tiny_codes();
                 quant::sid_table<quant::rank_by_popularity>::build(codes, 3).sid(-1);
               }});
  c.push_back({"beam-zero", "beam search: beam width 0", kind::argument, {"beam width must be at least 1, got 0"},
               [](const row_env&) {
                 const auto m = tiny_generator();
                 const auto trie = quant::prefix_trie::build(m.item_codes());
                 const decode::trie_constraint tc(trie);
                 decode::beam_options bo;
                 bo.beam = 0;
                 decode::beam_search<float, decode::trie_constraint> bs(m, tc, bo);
               }});
  c.push_back({"beam-topk-zero", "beam search: top_k 0", kind::argument, {"top_k must be at least 1"},
               [](const row_env&) {
                 const auto m = tiny_generator();
                 const auto trie = quant::prefix_trie::build(m.item_codes());
                 const decode::trie_constraint tc(trie);
                 decode::beam_options bo;
                 bo.top_k = 0;
                 decode::beam_search<float, decode::trie_constraint> bs(m, tc, bo);
               }});
  c.push_back({"beam-negative-id", "beam search: a negative item id in a history", kind::value,
               {"user 1", "unknown item -3"}, [](const row_env&) {
                 const auto m = tiny_generator();
                 const auto trie = quant::prefix_trie::build(m.item_codes());
                 const decode::trie_constraint tc(trie);
                 decode::beam_search<float, decode::trie_constraint> bs(m, tc, {});
                 const std::vector<std::int32_t> h0{1, 2}, h1{0, -3};
                 bs.recommend({cspan<std::int32_t>(h0.data(), 2), cspan<std::int32_t>(h1.data(), 2)});
               }});
  c.push_back({"trie-prefix", "prefix trie: a prefix longer than the SIDs", kind::argument,
               {"prefix of length 3 exceeds the SID length 2"}, [](const row_env&) {
                 const auto codes = test::tiny_codes();
                 const auto trie = quant::prefix_trie::build(codes);
                 const std::vector<std::int32_t> p{0, 0, 0};
                 trie.find(cspan<std::int32_t>(p.data(), 3));
               }});
  c.push_back({"postings-token", "posting index: a token outside the codebooks", kind::argument,
               {"token (0, 7) out of range"}, [](const row_env&) {
                 const auto codes = test::tiny_codes();
                 const auto idx = quant::posting_index::build(codes, 3);
                 const std::vector<quant::token> t{{0, 7}};
                 idx.intersect(cspan<quant::token>(t.data(), 1));
               }});
  c.push_back({"postings-huge-K", "posting index file: a codebook size claiming 2^25 posting lists", kind::format,
               {"codebook_size", "at most 2^24 posting lists"}, [](const row_env& env) {
                 const auto codes = test::tiny_codes();
                 {
                   io::binary_writer w(env.file("huge.r4r"), "posting_index");
                   w.put_scalar<std::int64_t>("codebook_size", std::int64_t(1) << 25);
                   w.put_matrix<std::int32_t>("codes", codes);
                   w.put("popularity", std::vector<std::int64_t>(static_cast<std::size_t>(codes.rows()), 1));
                   w.commit();
                 }
                 quant::posting_index p;
                 p.load(env.file("huge.r4r"));
               }});
  c.push_back({"train-empty", "training: a dataset where no user has two items", kind::argument,
               {"no training sequence has two items"}, [](const row_env&) {
                 const data::sequence_dataset ds(data::id_map({"1", "2"}), data::id_map({"1", "2", "3", "4", "5", "6"}),
                                                 {0, 1, 2}, {0, 1});
                 const data::leave_one_out_split split(ds);
                 auto m = tiny_generator();
                 model::generator_train_options o;
                 o.log = nullptr;
                 model::train_generator<float>(m, split, o);
               }});
  c.push_back({"train-catalogue", "training: a split over another catalogue", kind::argument,
               {"the split has 10 items, the model's code table 6"}, [](const row_env&) {
                 const auto ds = test::synthetic_dataset(5, 10, 1);
                 const data::leave_one_out_split split(ds);
                 auto m = tiny_generator();
                 model::generator_train_options o;
                 o.log = nullptr;
                 model::train_generator<float>(m, split, o);
               }});
  c.push_back({"sasrec-empty-history", "SASRec scoring: a user with an empty history", kind::argument,
               {"user 4 has an empty history"}, [](const row_env&) {
                 model::sasrec_options o;
                 o.d_model = 8;
                 o.heads = 2;
                 o.d_ff = 8;
                 o.layers = 1;
                 o.log = nullptr;
                 const model::sasrec m(10, o);
                 eval::eval_batch b;
                 b.users = {4};
                 b.histories = {cspan<std::int32_t>()};
                 matrix<float> s(1, 10);
                 m.score(b, s);
               }});
  // Writing outputs.
  c.push_back({"write-no-dir", "output: the folder does not exist", kind::io,
               {"missing/out.txt", "cannot create a temporary file", "No such file"},
               [](const row_env& e) { io::write_file_atomic(e.file("missing/out.txt"), "data"); }});
  c.push_back({"write-onto-dir", "output: the target is a folder", kind::io, {"rename failed", "directory"},
               [](const row_env& e) {
                 test::make_dir(e.file("sub"));
                 io::write_file_atomic(e.file("sub"), "data");
               }});
  c.push_back({"disk-full-text", "disk full while writing a text output over an existing file", kind::io,
               {"existing.out", "write failed"}, [](const row_env& e) {
                 const test::file_size_limit full(16);
                 io::write_file_atomic(e.existing, std::string(4096, 'n'));
               }});
  c.push_back({"disk-full-checkpoint", "disk full while saving a checkpoint over an existing one", kind::io,
               {"existing.out", "write failed"}, [](const row_env& e) {
                 nn::parameter_store<float> ps;
                 checkpoint_model(ps, 300);
                 auto st = optim::adamw().init(ps);
                 const test::file_size_limit full(1024);
                 io::save_checkpoint<float>(e.existing, ps, &st, {});
               }});
  c.push_back({"disk-full-npy", "disk full while writing a .npy over an existing file", kind::io,
               {"existing.out", "write failed"}, [](const row_env& e) {
                 const auto x = features(500, 8);
                 const test::file_size_limit full(1024);
                 io::write_npy<float>(e.existing, x);
               }});
  return c;
}

}  // namespace

TEST_CASE("bad-input catalogue: every row fails with a named, one-line reg4rec::error", "[robustness][bad-input]") {
  const auto rows = catalogue();
  CHECK(rows.size() >= 30);
  for (const auto& row : rows) {
    test::temp_dir tmp;
    const row_env env{tmp.path(), tmp / "existing.out"};
    test::write_text(env.existing, previous);
    const auto before = test::list_dir(env.dir);
    INFO("row " << row.id << ": " << row.what);
    bool threw = false;
    try {
      row.run(env);
    } catch (const reg4rec::error& e) {
      threw = true;
      const std::string msg = e.what();
      INFO("message: " << msg);
      CHECK(is_kind(e, row.expected));
      if (!is_kind(e, row.expected)) WARN("expected a " << kind_name(row.expected));
      for (const auto& s : row.message) {
        INFO("must contain: " << s);
        CHECK(msg.find(s) != std::string::npos);
      }
      CHECK(msg.find('\n') == std::string::npos);
    }
    CHECK(threw);
    CHECK(test::read_text(env.existing) == previous);
    // No temporary file left behind (files the row created itself are allowed).
    for (const auto& name : test::list_dir(env.dir)) {
      INFO("file left in the folder: " << name);
      CHECK(name.find(".tmp.") == std::string::npos);
    }
    (void)before;
  }
}

// ---- the command-line program ----------------------------------------------------------------

#ifdef REG4REC_CLI_PATH
namespace {

struct cli_case {
  const char* id;
  const char* what;
  int exit_code;                     // 1: reg4rec::error, 2: usage error
  std::vector<std::string> args;     // {data} {out} {features...} are replaced
  std::vector<std::string> message;  // substrings of the first stderr line
  std::string prefix = "";           // shell text before the program (ulimit)
  // Earlier outputs in the output folder that must survive the failed run.
  std::vector<std::string> intact = {"results.md", "popularity/metrics.json", "report.html"};
};

// A dataset folder the program loads in milliseconds: 60 users over 300 items (ids 1..300).
void write_dataset(const std::string& dir, const std::string& name = "tiny.txt") {
  test::make_dir(dir);
  std::string s;
  for (int u = 0; u < 60; ++u) {
    s += std::to_string(u + 1);
    for (int k = 0; k < 6; ++k) s += " " + std::to_string((u * 5 + k * 7) % 300 + 1);
    s += "\n";
  }
  test::write_text(dir + "/" + name, s);
}

std::vector<cli_case> cli_catalogue() {
  using v = std::vector<std::string>;
  std::vector<cli_case> c;
  c.push_back({"cli-no-command", "no command", 2, v{}, {"usage: reg4rec <command>"}});
  c.push_back({"cli-unknown-command", "an unknown command", 2, v{"frobnicate"}, {"unknown command 'frobnicate'"}});
  c.push_back({"cli-unknown-option", "an unknown option", 2, v{"pipeline", "--bogus", "1"}, {"unknown option '--bogus'"}});
  c.push_back({"cli-missing-value", "an option without its value", 2, v{"pipeline", "--data"}, {"--data needs a value"}});
  c.push_back({"cli-bad-integer", "a non-integer seed", 2, v{"pipeline", "--seed", "abc"},
               {"--seed expects an integer, got 'abc'"}});
  c.push_back({"cli-bad-preset", "an unknown preset", 2, v{"pipeline", "--preset", "medium"},
               {"--preset must be quick or full"}});
  c.push_back({"cli-unknown-model", "an unknown model", 2, v{"pipeline", "--model", "popularity,nope"},
               {"unknown model 'nope'"}});
  c.push_back({"cli-nan-lr", "a NaN learning rate", 2, v{"pipeline", "--lr", "nan"}, {"--lr expects a finite number"}});
  c.push_back({"cli-beam-zero", "beam 0", 2, v{"pipeline", "--beam", "0"}, {"--beam must be at least 1"}});
  c.push_back({"cli-epochs-fraction", "a fractional epoch count", 2, v{"pipeline", "--epochs", "2.5"},
               {"--epochs expects a whole number"}});
  c.push_back({"cli-dropout-one", "dropout 1", 2, v{"pipeline", "--dropout", "1"}, {"--dropout must lie in [0, 1)"}});
  c.push_back({"cli-threads-zero", "zero threads", 2, v{"pipeline", "--threads", "0"}, {"--threads must be at least 1 and at most 4096, got '0'"}});
  c.push_back({"cli-no-data", "a data folder that does not exist", 1,
               v{"pipeline", "--data", "{tmp}/nowhere", "--model", "popularity", "--out", "{out}", "--quiet"},
               {"nowhere", "cannot open the data folder"}});
  c.push_back({"cli-bad-sequence", "a malformed sequence file", 1,
               v{"pipeline", "--data", "{tmp}/bad_seq", "--model", "popularity", "--out", "{out}", "--quiet"},
               {"bad_seq/bad.txt:3", "item 2", "'x7'"}});
  c.push_back({"cli-empty-sequence", "an empty sequence file (empty dataset)", 1,
               v{"pipeline", "--data", "{tmp}/empty_seq", "--model", "popularity", "--out", "{out}", "--quiet"},
               {"empty.txt", "no users"}});
  c.push_back({"cli-two-sequences", "two sequence files in the data folder", 1,
               v{"pipeline", "--data", "{tmp}/two_seq", "--model", "popularity", "--out", "{out}", "--quiet"},
               {"several *.txt files"}});
  c.push_back({"cli-bad-items", "items.tsv naming an unknown item", 1,
               v{"pipeline", "--data", "{tmp}/bad_items", "--model", "popularity", "--out", "{out}", "--quiet"},
               {"items.tsv:3", "unknown item id '999'"}});
  c.push_back({"cli-features-not-npy", "--features that is not a .npy file", 1,
               v{"tokenize", "--data", "{tmp}/data", "--method", "rq-kmeans", "--features", "{tmp}/data/tiny.txt", "--out",
                 "{out}", "--quiet"},
               {"tiny.txt", "not a .npy file"}});
  c.push_back({"cli-features-rows", "--features with the wrong number of rows", 1,
               v{"tokenize", "--data", "{tmp}/data", "--method", "rq-kmeans", "--features", "{tmp}/rows.npy", "--out",
                 "{out}", "--quiet"},
               {"rows.npy: rows (items of the dataset): expected 300, got 299"}});
  c.push_back({"cli-features-nan", "--features holding a NaN", 1,
               v{"tokenize", "--data", "{tmp}/data", "--method", "rq-kmeans", "--features", "{tmp}/nan.npy", "--out",
                 "{out}", "--quiet"},
               {"row 7", "non-finite", "column 3"}});
  c.push_back({"cli-unknown-method", "an unknown tokenizer", 2,
               v{"tokenize", "--data", "{tmp}/data", "--method", "nope,rq-kmeans", "--features", "{tmp}/good.npy", "--quiet"},
               {"unknown tokenizer 'nope'"}});
  c.push_back({"cli-no-model", "--model-dir that does not exist", 1, v{"evaluate", "--model-dir", "{tmp}/nowhere", "--quiet"},
               {"nowhere: no such model folder"}});
  c.push_back({"cli-not-a-model", "--model-dir of a folder that holds no saved model", 1,
               v{"recommend", "--model-dir", "{tmp}/data", "--user", "1"}, {"not a saved model: manifest.json is missing"}});
  c.push_back({"cli-k-zero", "recommend --k 0", 2, v{"recommend", "--model-dir", "{tmp}/data", "--user", "1", "--k", "0"},
               {"--k must be at least 1"}});
  c.push_back({"cli-train-unknown-model", "train an unknown model", 2, v{"train", "--model", "nope", "--quiet"},
               {"unknown model 'nope'"}});
  c.push_back({"cli-out-is-file", "--out naming a regular file", 1,
               v{"pipeline", "--data", "{tmp}/data", "--model", "popularity", "--out", "{out}/results.md", "--quiet"},
               {"results.md", "exists and is not a folder"}});
  // Files may grow to 1 KiB (sh counts 512-byte blocks): the OpenMP runtime's 1 KiB shared
  // memory segment (LLVM libomp) and the small JSON and Markdown outputs fit, report.html
  // (2 KiB) does not. The earlier report.html must survive.
  c.push_back({"cli-disk-full", "the disk fills up while the results are written", 1,
               v{"pipeline", "--data", "{tmp}/data", "--model", "popularity", "--out", "{out}", "--quiet"},
               {"report.html", "write failed"}, "trap '' XFSZ; ulimit -f 2;", {"report.html"}});
  return c;
}

std::string substitute(std::string s, const std::string& tmp, const std::string& out) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{tmp}", tmp}, {"{out}", out}}) {
    for (std::size_t p; (p = s.find(key)) != std::string::npos;) s.replace(p, key.size(), value);
  }
  return s;
}

}  // namespace

TEST_CASE("bad-input catalogue, command line: exit code, one line, outputs intact", "[robustness][bad-input][cli]") {
  test::temp_dir tmp;
  write_dataset(tmp / "data");
  test::make_dir(tmp / "bad_seq");
  test::write_text(tmp / "bad_seq/bad.txt", "1 1 2\n2 2 3\n3 4 x7\n");
  test::make_dir(tmp / "empty_seq");
  test::write_text(tmp / "empty_seq/empty.txt", "");
  write_dataset(tmp / "two_seq", "a.txt");
  write_dataset(tmp / "two_seq", "b.txt");
  write_dataset(tmp / "bad_items");
  test::write_text(tmp / "bad_items/items.tsv", "item_id\ttitle\n1\tone\n999\tnot in the data\n");
  const auto good = test::random_matrix<float>(300, 8, 3), short_rows = test::random_matrix<float>(299, 8, 3);
  io::write_npy<float>(tmp / "good.npy", good);
  io::write_npy<float>(tmp / "rows.npy", short_rows);
  auto with_nan = test::random_matrix<float>(300, 8, 3);
  with_nan(7, 3) = std::numeric_limits<float>::quiet_NaN();
  io::write_npy<float>(tmp / "nan.npy", with_nan);

  for (const auto& row : cli_catalogue()) {
    INFO("row " << row.id << ": " << row.what);
    const std::string out = tmp / (std::string("out_") + row.id);
    test::make_dir(out);
    test::make_dir(out + "/popularity");
    for (const auto& f : {"results.md", "popularity/metrics.json", "report.html"}) test::write_text(out + "/" + f, previous);
    std::vector<std::string> args;
    for (const auto& a : row.args) args.push_back(substitute(a, tmp.path(), out));
    const auto r = test::run_program(REG4REC_CLI_PATH, args, tmp.path(), row.prefix);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == row.exit_code);
    const auto lines = r.err_lines();
    REQUIRE(!lines.empty());
    // The message is the first line (newlines folded into it); only the usage text may follow.
    for (const auto& s : row.message) {
      INFO("first line must contain: " << s);
      CHECK(lines[0].find(s) != std::string::npos);
    }
    if (row.exit_code == 2 && !row.args.empty()) CHECK(lines.size() >= 2);
    if (lines.size() > 1 && !row.args.empty()) CHECK(lines[1].rfind("usage: reg4rec", 0) == 0);
    CHECK(lines[0].rfind(row.args.empty() ? "usage:" : "reg4rec", 0) == 0);
    for (const auto& f : row.intact) {
      INFO("earlier output: " << f);
      CHECK(test::read_text(out + "/" + f) == previous);
    }
    for (const auto& name : test::list_dir(out)) {
      INFO("file left behind: " << name);
      CHECK(name.find(".tmp.") == std::string::npos);
    }
    for (const auto& name : test::list_dir(out + "/popularity")) {
      INFO("file left behind: " << name);
      CHECK(name.find(".tmp.") == std::string::npos);
    }
  }
}

TEST_CASE("the command line succeeds on the same tiny dataset (the catalogue rows fail for their reason)",
          "[robustness][cli]") {
  test::temp_dir tmp;
  write_dataset(tmp / "data");
  const auto r = test::run_program(REG4REC_CLI_PATH,
                                   {"pipeline", "--data", tmp / "data", "--model", "popularity", "--out", tmp / "out", "--quiet"},
                                   tmp.path());
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(test::read_text(tmp / "out/results.md").find("popularity") != std::string::npos);
}
#endif
