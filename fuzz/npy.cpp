// Fuzz target: the .npy reader (io/npy.hpp) into every supported element type.
#include <reg4rec/io/npy.hpp>

#include "fuzz_common.hpp"

REG4REC_FUZZ_TARGET(npy) {
  using namespace reg4rec;
  const std::string& path = fuzz::scratch().write(data, size);
  fuzz::expect_clean([&] { (void)io::read_npy_header(path); });
  fuzz::expect_clean([&] { (void)io::read_npy<float>(path).sum(); });
  fuzz::expect_clean([&] { (void)io::read_npy<double>(path).sum(); });
  fuzz::expect_clean([&] { (void)io::read_npy<std::int32_t>(path).size(); });
  fuzz::expect_clean([&] { (void)io::read_npy<std::int64_t>(path).size(); });
  return 0;
}
