// CUDA add-on: every CUDA kernel against the scalar reference. Built only with
// REG4REC_ENABLE_CUDA; without a GPU the program says so and exits with code 4, which CTest
// reports as a skipped test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <limits>

#include <reg4rec/backend/cuda/api.hpp>
#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;

int main(int argc, char** argv) {
  if (!cuda::available()) {
    std::printf("SKIPPED: %s\n", cuda::device_description().c_str());
    return 4;
  }
  std::printf("CUDA device: %s\n", cuda::device_description().c_str());
  return Catch::Session().run(argc, argv);
}

TEST_CASE("cuda nearest and nearest_topb equal the scalar reference", "[cuda]") {
  for (metric m : {metric::l2, metric::inner_product})
    for (index_t d : {3, 32, 33})
      for (index_t K : {1, 65, 300}) {
        const index_t n = 1000, B = std::min<index_t>(5, K);
        const auto x = test::random_matrix<float>(n, d, d * 7 + K);
        const auto c = test::random_matrix<float>(K, d, d * 11 + K);
        std::vector<std::int32_t> i_ref(n), i_gpu(n);
        std::vector<float> s_ref(n), s_gpu(n);
        kernels::nearest<float>(backend::scalar{}, m, x, c, i_ref, s_ref);
        kernels::nearest<float>(backend::cuda{}, m, x, c, i_gpu, s_gpu);
        CHECK(i_ref == i_gpu);
        CHECK(test::max_rel_diff(s_gpu.data(), s_ref.data(), n) < 1e-4);
        matrix<std::int32_t> bi_ref(n, B), bi_gpu(n, B);
        matrix<float> bs_ref(n, B), bs_gpu(n, B);
        kernels::nearest_topb<float>(backend::scalar{}, m, x, c, bi_ref, bs_ref);
        kernels::nearest_topb<float>(backend::cuda{}, m, x, c, bi_gpu, bs_gpu);
        CHECK((bi_ref.array() == bi_gpu.array()).all());
      }
}

TEST_CASE("cuda nearest rejects a NaN row like the CPU", "[cuda]") {
  auto x = test::random_matrix<float>(10, 8, 1);
  const auto c = test::random_matrix<float>(16, 8, 2);
  x(4, 4) = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::int32_t> idx(10);
  std::vector<float> s(10);
  CHECK_THROWS_WITH(kernels::nearest<float>(backend::cuda{}, metric::l2, x, c, idx, s),
                    Catch::Contains("row 4"));
}

TEST_CASE("cuda softmax, log_softmax and topk equal the scalar reference", "[cuda]") {
  for (index_t m : {1, 17, 1100, 12101}) {
    auto x = test::random_matrix<float>(64, m, m, 4.0f);
    matrix<float> y_ref(64, m), y_gpu(64, m);
    kernels::softmax<float>(backend::scalar{}, x, y_ref);
    kernels::softmax<float>(backend::cuda{}, x, y_gpu);
    CHECK(test::max_rel_diff(y_gpu.data(), y_ref.data(), y_ref.size()) < 1e-5);
    kernels::log_softmax<float>(backend::scalar{}, x, y_ref);
    kernels::log_softmax<float>(backend::cuda{}, x, y_gpu);
    CHECK(test::max_rel_diff(y_gpu.data(), y_ref.data(), y_ref.size()) < 1e-5);
    const index_t k = std::min<index_t>(10, m);
    x(3, 0) = std::numeric_limits<float>::quiet_NaN();
    x(5, m - 1) = -std::numeric_limits<float>::infinity();
    matrix<std::int32_t> i_ref(64, k), i_gpu(64, k);
    matrix<float> v_ref(64, k), v_gpu(64, k);
    kernels::topk<float>(backend::scalar{}, x, i_ref, v_ref);
    kernels::topk<float>(backend::cuda{}, x, i_gpu, v_gpu);
    CHECK((i_ref.array() == i_gpu.array()).all());
  }
}

TEST_CASE("cuda adamw equals the scalar reference", "[cuda]") {
  const index_t n = 1000003;
  auto p1 = test::random_vector<float>(n, 1), p2 = p1;
  std::vector<float> m1(n, 0.f), v1(n, 0.f), m2(n, 0.f), v2(n, 0.f);
  adamw_hparams h;
  for (int t = 1; t <= 3; ++t) {
    const auto g = test::random_vector<float>(n, 10 + t);
    h.step = t;
    kernels::adamw_update<float>(backend::scalar{}, p1, g, m1, v1, h);
    kernels::adamw_update<float>(backend::cuda{}, p2, g, m2, v2, h);
  }
  CHECK(test::max_rel_diff(p2.data(), p1.data(), n) < 1e-5);
}
