// Assigns three vectors to the nearest of four codes and checks the answer.
#include <reg4rec/reg4rec.hpp>

#include <cstdio>
#include <vector>

int main() {
  using namespace reg4rec;
  matrix<float> codes(4, 2);
  codes << 0, 0, 10, 0, 0, 10, 10, 10;
  matrix<float> x(3, 2);
  x << 9, 1, 1, 9, 8, 8;
  std::vector<std::int32_t> idx(3);
  std::vector<float> dist(3);
  kernels::nearest<float>(metric::l2, x, codes, idx, dist);
  const bool ok = idx[0] == 1 && idx[1] == 2 && idx[2] == 3 && dist[2] == 8.0f;
  std::printf("reg4rec %s: %s\n", version_string, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
