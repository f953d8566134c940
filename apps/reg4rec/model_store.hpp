// Saved models: the folder `reg4rec train` and `reg4rec align` write and `reg4rec evaluate`,
// `reg4rec recommend` and `reg4rec align` read (docs/cli.md#saved-model-folders).
//
//   MODEL_DIR/manifest.json       what the folder holds: model kind, dataset, decoding
//                                 settings, file names, the training configuration
//   MODEL_DIR/item_ids.txt        the dataset's item id of every internal item index, one a line
//   MODEL_DIR/popularity.npy      int64 (n_items): training interactions per item
//   generative models (tiger, reg4rec-sft, reg4rec):
//   MODEL_DIR/generator.r4r       model::sid_generator::save (weights, configuration, SID layout,
//                                 every item's tokens)
//   MODEL_DIR/trie.r4r            quant::prefix_trie::save (tiger: ordered SIDs)
//   MODEL_DIR/posting.r4r         quant::posting_index::save (reg4rec: unordered MPQ tokens)
//   MODEL_DIR/categories.r4r      quant::token_category_table::save (reg4rec, when items.tsv
//                                 gives categories)
//   MODEL_DIR/tokenizer.r4r       the trained quantizer (rq_vae or mpq save()), to tokenise new items
//   MODEL_DIR/item_category.npy   int32 (n_items): leaf category per item, −1 unknown
//   MODEL_DIR/category_names.txt  leaf category names by id, one a line
//   sasrec:
//   MODEL_DIR/network.r4r         io::save_checkpoint of the network's parameter store
//
// A folder is written into a staging folder beside it and renamed into place at the end, so
// an interrupted save never leaves a half-written model; an older model folder at the same
// path is replaced, any other non-empty folder is refused.
#pragma once

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <reg4rec/core/config.hpp>
#include <reg4rec/decode/step_selection.hpp>
#include <reg4rec/io.hpp>
#include <reg4rec/io/checkpoint.hpp>
#include <reg4rec/io/npy.hpp>
#include <reg4rec/model/sasrec.hpp>
#include <reg4rec/model/sid_generator.hpp>
#include <reg4rec/quant/posting_index.hpp>
#include <reg4rec/quant/prefix_trie.hpp>
#include <reg4rec/quant/token_categories.hpp>

#include "dataset.hpp"
#include "json_read.hpp"

namespace reg4rec::cli {

inline constexpr const char* model_format = "reg4rec-model";
inline constexpr int model_format_version = 1;

namespace fsutil {

inline bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
inline bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
/// Entries of a folder (without . and ..).
inline std::vector<std::string> list_dir(const std::string& p) {
  std::vector<std::string> out;
  DIR* d = ::opendir(p.c_str());
  if (!d) throw io_error(p, std::string("cannot open the folder: ") + std::strerror(errno));
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}
/// Removes a folder holding only files (what a model folder is).
inline void remove_flat_dir(const std::string& p) {
  for (const auto& n : list_dir(p))
    if (::unlink((p + "/" + n).c_str()) != 0)
      throw io_error(p + "/" + n, std::string("cannot remove: ") + std::strerror(errno));
  if (::rmdir(p.c_str()) != 0) throw io_error(p, std::string("cannot remove the folder: ") + std::strerror(errno));
}
inline std::string absolute(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}
inline std::string parent_of(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto s = p.find_last_of('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}

}  // namespace fsutil

/// Throws io_error when `dir` cannot receive a model: it exists and is not a folder, or is a
/// non-empty folder without a manifest (not a model folder to replace), or its parent is missing.
inline void check_model_destination(const std::string& dir) {
  if (dir.empty()) throw io_error(dir, "empty output path");
  if (!fsutil::exists(dir)) {
    if (!fsutil::is_dir(fsutil::parent_of(dir)))
      throw io_error(dir, "the parent folder " + fsutil::parent_of(dir) + " does not exist");
    return;
  }
  if (!fsutil::is_dir(dir)) throw io_error(dir, "exists and is not a folder");
  if (!fsutil::list_dir(dir).empty() && !fsutil::exists(dir + "/manifest.json"))
    throw io_error(dir, "exists, is not empty and is not a saved model (no manifest.json); refusing to replace it");
}

/// A model folder being written: files go to a staging folder `<dir>.partial-<pid>`;
/// commit() moves it to `dir` (replacing an older model folder there). Without commit()
/// the staging folder is removed.
class model_folder_writer {
 public:
  explicit model_folder_writer(std::string dir) : dir_(std::move(dir)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    check_model_destination(dir_);
    staging_ = dir_ + ".partial-" + std::to_string(::getpid());
    if (fsutil::exists(staging_)) fsutil::remove_flat_dir(staging_);
    if (::mkdir(staging_.c_str(), 0755) != 0)
      throw io_error(staging_, std::string("cannot create the folder: ") + std::strerror(errno));
  }
  model_folder_writer(const model_folder_writer&) = delete;
  model_folder_writer& operator=(const model_folder_writer&) = delete;
  ~model_folder_writer() {
    if (!committed_) {
      try {
        fsutil::remove_flat_dir(staging_);
      } catch (...) {
      }
    }
  }
  std::string path(const std::string& name) const { return staging_ + "/" + name; }
  const std::string& dir() const noexcept { return dir_; }

  void commit() {
    check_model_destination(dir_);
    std::string old;
    if (fsutil::exists(dir_)) {
      if (fsutil::list_dir(dir_).empty()) {
        ::rmdir(dir_.c_str());
      } else {
        old = dir_ + ".old-" + std::to_string(::getpid());
        if (::rename(dir_.c_str(), old.c_str()) != 0)
          throw io_error(dir_, std::string("cannot move the previous model aside: ") + std::strerror(errno));
      }
    }
    if (::rename(staging_.c_str(), dir_.c_str()) != 0) {
      const int e = errno;
      if (!old.empty()) ::rename(old.c_str(), dir_.c_str());
      throw io_error(dir_, std::string("cannot move the saved model into place: ") + std::strerror(e));
    }
    committed_ = true;
    if (!old.empty()) fsutil::remove_flat_dir(old);
  }

 private:
  std::string dir_, staging_;
  bool committed_ = false;
};

/// How a saved generative model decodes (the defaults of evaluate and recommend).
struct decoder_settings {
  std::string constraint = "prefix_trie";  // or "posting_index"
  std::string order = "fixed";             // or "confidence" (CRSS)
  index_t beam = 20;
  bool corp = false;
  double corp_theta = 0.5;
  index_t corp_kmin = -1;
  std::string confidence = "max-probability";  // CRSS's measure (decode::name(confidence_measure))
  double reflection = 0;  // weight of the reflection score on finished paths (beam_options::reflection)
};

/// What save_generative writes. Pointers may be null where the model has no such part.
struct generative_parts {
  std::string kind;  // "tiger", "reg4rec-sft" or "reg4rec"
  const model::sid_generator<float>* generator = nullptr;
  const quant::prefix_trie* trie = nullptr;                   // ordered SIDs
  const quant::posting_index* posting = nullptr;              // unordered tokens
  const quant::token_category_table* categories = nullptr;   // null: built from the dataset's categories
  cspan<std::int64_t> popularity;                             // (n_items)
  decoder_settings decoder;
  std::string tokenizer;                                      // its name ("rq-vae", "mpq")
  std::function<void(const std::string&)> save_tokenizer;     // writes the quantizer to a path
  std::function<void(io::json_writer&)> training;             // the training configuration (an object)
  std::string features;                                       // what the tokenizer was fitted on (describe_features)
};

/// Training interactions of every item (the popularity saved with a model).
inline std::vector<std::int64_t> training_counts(const data::leave_one_out_split& split) {
  std::vector<std::int64_t> c(static_cast<std::size_t>(split.n_items()), 0);
  for (index_t u = 0; u < split.n_users(); ++u)
    for (auto it : split.train(u)) ++c[static_cast<std::size_t>(it)];
  return c;
}

namespace detail {

inline void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  io::write_file_atomic(path, s);
}
inline std::vector<std::string> read_lines(const std::string& path) {
  const std::string s = io::read_file(path);
  std::vector<std::string> out;
  for (std::size_t p = 0; p < s.size();) {
    std::size_t q = s.find('\n', p);
    if (q == std::string::npos) q = s.size();
    std::string l = s.substr(p, q - p);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
    p = q + 1;
  }
  return out;
}

inline void begin_manifest(io::json_writer& j, const std::string& kind, const dataset& ds, index_t max_history) {
  j.begin_object();
  j.field("format", model_format).field("version", model_format_version).field("model", kind);
  j.field("dataset", ds.name).field("data_dir", fsutil::absolute(ds.dir));
  j.field("items", ds.sequences.n_items()).field("users", ds.sequences.n_users()).field("max_history", max_history);
  j.field("created_by", std::string("reg4rec ") + version_string);
}

inline void write_common_files(model_folder_writer& w, const dataset& ds, cspan<std::int64_t> popularity) {
  write_lines(w.path("item_ids.txt"), ds.sequences.item_ids().externals());
  check_dim("saved model: popularity entries (items)", popularity.size(), ds.sequences.n_items());
  io::write_npy_vector<std::int64_t>(w.path("popularity.npy"), popularity);
}

}  // namespace detail

/// Saves a generative model folder (see the file comment).
inline void save_generative(const std::string& dir, const dataset& ds, const generative_parts& p) {
  require(p.generator != nullptr, "save_generative: no generator");
  require((p.trie != nullptr) != (p.posting != nullptr), "save_generative: exactly one of trie and posting index");
  const auto& gen = *p.generator;
  model_folder_writer w(dir);
  detail::write_common_files(w, ds, p.popularity);
  gen.save(w.path("generator.r4r"));
  if (p.trie) p.trie->save(w.path("trie.r4r"));
  if (p.posting) p.posting->save(w.path("posting.r4r"));
  bool has_categories = false;
  if (ds.items) {
    const auto& leaf = ds.items->leaf_category();
    io::write_npy_vector<std::int32_t>(w.path("item_category.npy"), cspan<std::int32_t>(leaf.data(), static_cast<index_t>(leaf.size())));
    detail::write_lines(w.path("category_names.txt"), ds.items->category_names());
    if (p.posting) {
      if (p.categories) {
        p.categories->save(w.path("categories.r4r"));
      } else {
        quant::token_category_table::build(gen.item_codes(), p.posting->codebook_size(),
                                           cspan<std::int32_t>(leaf.data(), static_cast<index_t>(leaf.size())))
            .save(w.path("categories.r4r"));
      }
      has_categories = true;
    }
  }
  if (p.save_tokenizer) p.save_tokenizer(w.path("tokenizer.r4r"));

  io::json_writer j;
  detail::begin_manifest(j, p.kind, ds, gen.config().max_history);
  j.key("files").begin_object();
  j.field("generator", "generator.r4r").field("constraint", p.trie ? "trie.r4r" : "posting.r4r");
  if (has_categories) j.field("categories", "categories.r4r");
  if (p.save_tokenizer) j.field("tokenizer", "tokenizer.r4r");
  j.field("item_ids", "item_ids.txt").field("popularity", "popularity.npy");
  if (ds.items) j.field("item_category", "item_category.npy").field("category_names", "category_names.txt");
  j.end_object();
  j.key("decoder").begin_object();
  j.field("constraint", p.decoder.constraint).field("order", p.decoder.order).field("beam", p.decoder.beam);
  j.field("corp", p.decoder.corp).field("corp_theta", p.decoder.corp_theta).field("corp_kmin", p.decoder.corp_kmin);
  if (p.decoder.order == "confidence") j.field("confidence", p.decoder.confidence);
  if (p.decoder.reflection > 0) j.field("reflection", p.decoder.reflection);
  j.end_object();
  j.key("sid").begin_object().field("codebooks", gen.codebooks()).key("codebook_sizes").begin_array();
  for (index_t r = 0; r < gen.codebooks(); ++r) j.value(gen.layout().size(r));
  j.end_array().field("tokenizer", p.tokenizer);
  if (!p.features.empty()) j.field("features", p.features);
  j.end_object();
  j.key("training");
  if (p.training)
    p.training(j);
  else
    j.begin_object().end_object();
  j.end_object();
  io::write_file_atomic(w.path("manifest.json"), j.str() + "\n");
  w.commit();
}

/// Saves a SASRec model folder.
inline void save_sasrec(const std::string& dir, const dataset& ds, const model::sasrec& m, cspan<std::int64_t> popularity,
                        const std::function<void(io::json_writer&)>& training) {
  model_folder_writer w(dir);
  detail::write_common_files(w, ds, popularity);
  io::train_state ts;
  ts.config = "sasrec";
  io::save_checkpoint<float>(w.path("network.r4r"), m.network().params(), nullptr, ts);
  const auto& o = m.options();
  io::json_writer j;
  detail::begin_manifest(j, "sasrec", ds, o.max_len);
  j.key("files").begin_object().field("network", "network.r4r").field("item_ids", "item_ids.txt");
  j.field("popularity", "popularity.npy").end_object();
  j.key("sasrec").begin_object();
  j.field("max_len", o.max_len).field("d_model", o.d_model).field("heads", o.heads).field("d_ff", o.d_ff);
  j.field("layers", o.layers).field("dropout", o.dropout).field("attention_dropout", o.attention_dropout);
  j.field("scale_embeddings", o.scale_embeddings).end_object();
  j.key("training");
  if (training)
    training(j);
  else
    j.begin_object().end_object();
  j.end_object();
  io::write_file_atomic(w.path("manifest.json"), j.str() + "\n");
  w.commit();
}

/// A model folder read back.
struct loaded_model {
  std::string dir, kind, dataset, data_dir;
  index_t items = 0, max_history = 20;
  json_value manifest;
  std::vector<std::string> item_ids;        // external id by internal index
  std::vector<std::int64_t> popularity;     // (items)
  std::vector<std::int32_t> item_category;  // (items) or empty
  std::vector<std::string> category_names;  // by category id, or empty
  decoder_settings decoder;
  // generative models
  std::unique_ptr<model::sid_generator<float>> generator;
  quant::prefix_trie trie;
  quant::posting_index posting;
  quant::token_category_table categories;
  bool has_categories = false;
  // sasrec
  std::unique_ptr<model::sasrec> sasrec;

  bool generative() const noexcept { return generator != nullptr; }
  bool unordered() const noexcept { return decoder.constraint == "posting_index"; }
  std::string category_name(std::int32_t c) const {
    if (c < 0) return "?";
    return c < static_cast<std::int32_t>(category_names.size()) ? category_names[static_cast<std::size_t>(c)]
                                                               : "category " + std::to_string(c);
  }
};

/// Reads a model folder; io_error / format_error / checkpoint_error naming the file when
/// something is missing, malformed or inconsistent.
inline loaded_model load_model(const std::string& dir) {
  if (!fsutil::is_dir(dir)) throw io_error(dir, "no such model folder");
  const std::string mpath = dir + "/manifest.json";
  if (!fsutil::exists(mpath)) throw io_error(dir, "not a saved model: manifest.json is missing");
  loaded_model m;
  m.dir = dir;
  m.manifest = json_value::read_file(mpath);
  const auto& mf = m.manifest;
  if (!mf.is_object() || mf.get("format", std::string()) != model_format)
    throw format_error(mpath, 0, "format", std::string("not a reg4rec model manifest (expected \"format\": \"") + model_format + "\")");
  if (mf.at("version").num() > model_format_version)
    throw format_error(mpath, 0, "version", "written by a newer reg4rec (format version " +
                                                std::to_string(static_cast<long>(mf.at("version").num())) + ")");
  m.kind = mf.at("model").str();
  m.dataset = mf.get("dataset", std::string());
  m.data_dir = mf.get("data_dir", std::string());
  m.items = static_cast<index_t>(mf.at("items").num());
  m.max_history = static_cast<index_t>(mf.get("max_history", 20.0));
  const auto& files = mf.at("files");
  auto file = [&](const std::string& key) { return dir + "/" + files.at(key).str(); };
  m.item_ids = detail::read_lines(file("item_ids"));
  if (static_cast<index_t>(m.item_ids.size()) != m.items)
    throw format_error(file("item_ids"), 0, "", "holds " + std::to_string(m.item_ids.size()) + " ids, the manifest says " +
                                                    std::to_string(m.items) + " items");
  {
    const auto pop = io::read_npy<std::int64_t>(file("popularity"));
    if (pop.rows() != m.items || pop.cols() != 1)
      throw format_error(file("popularity"), 0, "shape", "expected " + std::to_string(m.items) + " entries");
    m.popularity.assign(pop.data(), pop.data() + pop.size());
  }
  if (files.has("item_category")) {
    const auto c = io::read_npy<std::int32_t>(file("item_category"));
    if (c.rows() != m.items || c.cols() != 1)
      throw format_error(file("item_category"), 0, "shape", "expected " + std::to_string(m.items) + " entries");
    m.item_category.assign(c.data(), c.data() + c.size());
  }
  if (files.has("category_names")) m.category_names = detail::read_lines(file("category_names"));

  if (m.kind == "sasrec") {
    const auto& s = mf.at("sasrec");
    model::sasrec_options o;
    o.max_len = static_cast<index_t>(s.at("max_len").num());
    o.d_model = static_cast<index_t>(s.at("d_model").num());
    o.heads = static_cast<index_t>(s.at("heads").num());
    o.d_ff = static_cast<index_t>(s.at("d_ff").num());
    o.layers = static_cast<index_t>(s.at("layers").num());
    o.dropout = s.at("dropout").num();
    // Folders written before these fields existed were trained without them.
    o.attention_dropout = s.has("attention_dropout") ? s.at("attention_dropout").num() : 0.0;
    o.scale_embeddings = s.has("scale_embeddings") && s.at("scale_embeddings").boolean();
    o.log = nullptr;
    m.sasrec = std::make_unique<model::sasrec>(m.items, o);
    io::train_state ts;
    io::load_checkpoint<float>(file("network"), m.sasrec->network().params(), nullptr, ts);
    m.max_history = o.max_len;
    return m;
  }
  if (m.kind != "tiger" && m.kind != "reg4rec-sft" && m.kind != "reg4rec")
    throw format_error(mpath, 0, "model", "unknown model kind '" + m.kind + "' (tiger, reg4rec-sft, reg4rec, sasrec)");
  const auto& d = mf.at("decoder");
  m.decoder.constraint = d.at("constraint").str();
  m.decoder.order = d.get("order", std::string("fixed"));
  m.decoder.beam = static_cast<index_t>(d.get("beam", 20.0));
  m.decoder.corp = d.get_bool("corp", false);
  m.decoder.corp_theta = d.get("corp_theta", 0.5);
  m.decoder.corp_kmin = static_cast<index_t>(d.get("corp_kmin", -1.0));
  m.decoder.confidence = d.get("confidence", std::string("max-probability"));
  m.decoder.reflection = d.get("reflection", 0.0);
  m.generator = std::make_unique<model::sid_generator<float>>(model::sid_generator<float>::load(file("generator")));
  if (m.generator->items() != m.items)
    throw format_error(file("generator"), 0, "item_codes",
                       "holds " + std::to_string(m.generator->items()) + " items, the manifest says " + std::to_string(m.items));
  if (m.decoder.constraint == "prefix_trie") {
    m.trie.load(file("constraint"));
    if (m.trie.num_items() != m.items) throw format_error(file("constraint"), 0, "", "trie over another number of items");
  } else if (m.decoder.constraint == "posting_index") {
    m.posting.load(file("constraint"));
    if (m.posting.num_items() != m.items) throw format_error(file("constraint"), 0, "", "posting index over another number of items");
    if (files.has("categories")) {
      m.categories.load(file("categories"));
      m.has_categories = true;
    }
  } else {
    throw format_error(mpath, 0, "decoder.constraint", "unknown constraint '" + m.decoder.constraint + "'");
  }
  if (m.decoder.order != "fixed" && m.decoder.order != "confidence")
    throw format_error(mpath, 0, "decoder.order", "unknown step order '" + m.decoder.order + "'");
  try {
    decode::confidence_measure_from(m.decoder.confidence);
  } catch (const value_error& e) {
    throw format_error(mpath, 0, "decoder.confidence", e.what());
  }
  return m;
}

/// Throws io_error unless `ds` is the dataset the model was trained on (same item ids in the
/// same order).
inline void check_same_items(const loaded_model& m, const dataset& ds) {
  const auto& ids = ds.sequences.item_ids().externals();
  if (static_cast<index_t>(ids.size()) != m.items || ids != m.item_ids)
    throw io_error(ds.dir, "is not the dataset the model in " + m.dir + " was trained on (" + std::to_string(ids.size()) +
                               " items here, " + std::to_string(m.items) + " in the model, or other item ids)");
}

}  // namespace reg4rec::cli
