// Fuzz target: the interaction-log loader (data/interaction_loader.hpp): automatic delimiter
// and header detection; integer ids with deduplication and a 2-core filter; columns by name.
#include <reg4rec/data/interaction_loader.hpp>

#include "fuzz_common.hpp"

REG4REC_FUZZ_TARGET(interactions) {
  using namespace reg4rec;
  const std::string& path = fuzz::scratch().write(data, size);
  fuzz::expect_clean([&] {
    data::interaction_load_report rep;
    const auto ds = data::load_interactions(path, {}, &rep);
    (void)rep.summary();
    (void)ds.stats();
  });
  fuzz::expect_clean([&] {
    data::interaction_load_options o;
    o.user_ids = o.item_ids = data::id_kind::integer;
    o.dedup = true;
    o.user_core = o.item_core = 2;
    (void)data::load_interactions(path, o).stats();
  });
  fuzz::expect_clean([&] {
    data::interaction_load_options o;
    o.header = data::header_mode::present;
    o.user_name = "user";
    o.item_name = "item";
    o.time_name = "time";
    (void)data::load_interactions(path, o).stats();
  });
  return 0;
}
