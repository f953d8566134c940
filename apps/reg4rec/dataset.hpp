// Finding and loading a dataset folder: a sequence file `<name>.txt` (`user item item ...`)
// and, when present, `items.tsv` with the item metadata.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <reg4rec/data.hpp>

#include "args.hpp"

namespace reg4rec::cli {

struct dataset {
  std::string dir, name, sequences_path, items_path;
  data::sequence_dataset sequences;
  std::optional<data::item_metadata> items;
};

inline std::string basename_of(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

/// Loads DIR: exactly one `*.txt` sequence file besides README/SOURCE notes, and items.tsv if any.
inline dataset load_dataset(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw io_error(dir, "cannot open the data folder");
  std::vector<std::string> txt;
  bool has_items = false;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "items.tsv") has_items = true;
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".txt") == 0 && n != "README.txt" && n != "SOURCE.txt")
      txt.push_back(n);
  }
  ::closedir(d);
  std::sort(txt.begin(), txt.end());
  if (txt.empty()) throw io_error(dir, "no sequence file (*.txt, one user per line: user item item ...)");
  if (txt.size() > 1) throw io_error(dir, "several *.txt files; keep exactly one sequence file (found " + txt[0] + ", " + txt[1] + ")");
  dataset ds;
  ds.dir = dir;
  ds.name = basename_of(dir);
  ds.sequences_path = dir + "/" + txt[0];
  ds.sequences = data::load_sequences(ds.sequences_path);
  if (has_items) {
    ds.items_path = dir + "/items.tsv";
    ds.items = data::load_item_metadata(ds.items_path, ds.sequences.item_ids());
  }
  return ds;
}

/// The bundled dataset, found relative to the program or the working directory.
inline std::string default_data_dir(const char* argv0) {
  const std::string self = argv0 ? argv0 : "";
  const auto slash = self.find_last_of('/');
  const std::string bin = slash == std::string::npos ? "." : self.substr(0, slash);
#ifdef REG4REC_BUNDLED_DATA
  const std::string bundled = REG4REC_BUNDLED_DATA;
#else
  const std::string bundled = "data/beauty";
#endif
  for (const std::string& c : {std::string("data/beauty"), bin + "/../share/reg4rec/data/beauty", bundled}) {
    DIR* d = ::opendir(c.c_str());
    if (d) {
      ::closedir(d);
      return c;
    }
  }
  return "data/beauty";
}

}  // namespace reg4rec::cli
