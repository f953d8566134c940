// Fuzz target: the sequence-file loader (data/sequence_loader.hpp), with integer and with
// string ids, then the leave-one-out split and statistics of whatever loaded.
#include <reg4rec/data/sequence_loader.hpp>
#include <reg4rec/data/split.hpp>

#include "fuzz_common.hpp"

namespace reg4rec::fuzz {
inline void use_dataset(const data::sequence_dataset& ds) {
  (void)ds.stats();
  (void)ds.item_counts();
  const data::leave_one_out_split split(ds);
  for (index_t u = 0; u < split.n_users(); ++u) (void)split.train(u);
}
}  // namespace reg4rec::fuzz

REG4REC_FUZZ_TARGET(sequences) {
  using namespace reg4rec;
  const std::string& path = fuzz::scratch().write(data, size);
  fuzz::expect_clean([&] { fuzz::use_dataset(data::load_sequences(path)); });
  fuzz::expect_clean([&] {
    data::sequence_load_options o;
    o.ids = data::id_kind::string;
    o.skip_empty_users = true;
    data::sequence_load_report rep;
    fuzz::use_dataset(data::load_sequences(path, o, &rep));
    (void)rep.summary();
  });
  return 0;
}
