// Writes the binary seed files of fuzz/corpus/ (the text seeds are hand-written):
//   fuzz_make_seeds fuzz/corpus
// sid_table/  saved sid_tables (three policies), a prefix trie and a posting index, each as the
//             raw file and in the framed mode of binary_input.hpp
// checkpoint/ checkpoints of the fixed model of checkpoint.cpp (with and without optimizer
//             state), a tiny saved SID generator, and a foreign file (a SID table)
// npy/        small valid arrays of each dtype (the malformed ones are hand-written)
// The files are small (at most a few kilobytes) and deterministic.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <reg4rec/io/checkpoint.hpp>
#include <reg4rec/io/npy.hpp>
#include <reg4rec/model/sid_generator.hpp>
#include <reg4rec/quant/posting_index.hpp>
#include <reg4rec/quant/prefix_trie.hpp>
#include <reg4rec/quant/sid_table.hpp>

#include "binary_input.hpp"

using namespace reg4rec;

namespace {
std::string dir;

void put(const std::string& name, const std::string& bytes) {
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw io_error(dir + "/" + name, "cannot write");
}
// A container file as a raw seed ("\0" + file) and as a framed one.
void put_container(const std::string& sub, const std::string& name, const std::string& tmp) {
  const std::string file = io::read_file(tmp);
  std::remove(tmp.c_str());
  put(sub + "/" + name + ".raw", std::string(1, '\0') + file);
  put(sub + "/" + name + ".framed", fuzz::framed_input_from_file(file));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  dir = argv[1];
  const std::string tmp = dir + "/.seed.tmp";
  try {
    // Six items, two codebooks of three codes, with two collisions.
    matrix<std::int32_t> codes(6, 2);
    codes << 0, 1, 2, 0, 0, 1, 1, 2, 2, 2, 1, 0;
    const std::vector<std::int64_t> pop{5, 3, 3, 0, 9, 1};
    matrix<std::int32_t> cand(6, 2);
    cand << 1, 2, 0, 1, 2, 0, 1, 0, 0, 1, 2, 1;

    const auto dedup = quant::sid_table<quant::append_dedup_token>::build(codes, 3, pop);
    dedup.save(tmp);
    put_container("sid_table", "dedup", tmp);
    quant::sid_table<quant::rank_by_popularity>::build(codes, 3, pop).save(tmp);
    put_container("sid_table", "ranked", tmp);
    quant::sid_table<quant::reassign_nearest_free>::build(codes, 3, pop, cand).save(tmp);
    put_container("sid_table", "reassigned", tmp);
    quant::prefix_trie::build(dedup).save(tmp);
    put_container("sid_table", "trie", tmp);
    quant::posting_index::build(codes, 3, pop).save(tmp);
    put_container("sid_table", "postings", tmp);

    nn::parameter_store<float> ps;
    ps.add("embed.weight", 5, 3, false);
    ps.add("proj.weight", 3, 3, true);
    ps.add("proj.bias", 1, 3, false);
    rng g(7);
    for (auto& v : ps.values()) v = g.normal<float>();
    auto st = optim::adamw().init(ps);
    st.step = 4;
    io::train_state ts;
    ts.step = 12;
    ts.epoch = 3;
    ts.cursor = {2, 0, 512000000};
    ts.config = "{\"lr\": 0.001}";
    io::save_checkpoint<float>(tmp, ps, &st, ts);
    put_container("checkpoint", "with_adam", tmp);
    io::save_checkpoint<float>(tmp, ps, nullptr, ts);
    put_container("checkpoint", "params_only", tmp);

    model::generator_config c;
    c.d_model = 4;
    c.heads = 2;
    c.d_ff = 4;
    c.encoder_layers = 1;
    c.decoder_layers = 1;
    c.max_history = 3;
    c.dropout = 0;
    model::sid_generator<float> gen(c, model::sid_layout::from_codes(dedup.sids()), dedup.sids(), 3);
    gen.save(tmp);
    put_container("checkpoint", "generator", tmp);
    dedup.save(tmp);
    put_container("checkpoint", "foreign_sid_table", tmp);

    matrix<float> x(3, 2);
    x << 1.5f, -2.f, 0.f, 3.25f, 1e-3f, 7.f;
    io::write_npy<float>(tmp, x);
    put("npy/f4_3x2.npy", io::read_file(tmp));
    matrix<double> xd = x.cast<double>();
    io::write_npy<double>(tmp, xd);
    put("npy/f8_3x2.npy", io::read_file(tmp));
    const std::vector<std::int32_t> v{4, -1, 7, 0};
    io::write_npy_vector<std::int32_t>(tmp, cspan<std::int32_t>(v.data(), 4));
    put("npy/i4_vector.npy", io::read_file(tmp));
    matrix<std::int64_t> xi(2, 2);
    xi << 1, 2, 3, 4;
    io::write_npy<std::int64_t>(tmp, xi);
    put("npy/i8_2x2.npy", io::read_file(tmp));
    std::remove(tmp.c_str());
  } catch (const reg4rec::error& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
