// CUDA add-on: every CUDA kernel against the scalar reference. Built only with
// REG4REC_ENABLE_CUDA; without a GPU the program says so and exits with code 4, which CTest
// reports as a skipped test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

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
    for (index_t d : {3, 32, 33, 150})  // 150: three shared-memory chunks, the last partial
      for (index_t K : {1, 65, 300, 1100}) {  // 1,100: past the warp selection (B > 16)
        INFO("metric " << int(m) << ", d = " << d << ", K = " << K);
        const index_t n = 1000;
        const auto x = test::random_matrix<float>(n, d, d * 7 + K);
        const auto c = test::random_matrix<float>(K, d, d * 11 + K);
        std::vector<std::int32_t> i_ref(n), i_gpu(n);
        std::vector<float> s_ref(n), s_gpu(n);
        kernels::nearest<float>(backend::scalar{}, m, x, c, i_ref, s_ref);
        kernels::nearest<float>(backend::cuda{}, m, x, c, i_gpu, s_gpu);
        CHECK(i_ref == i_gpu);
        CHECK(test::max_rel_diff(s_gpu.data(), s_ref.data(), n) < 1e-4);
        // B ≤ 16: a list per thread; B > 16: every score, then the radix top-k.
        for (index_t B : {std::min<index_t>(5, K), std::min<index_t>(16, K), std::min<index_t>(17, K), std::min<index_t>(64, K)}) {
          INFO("B = " << B);
          matrix<std::int32_t> bi_ref(n, B), bi_gpu(n, B);
          matrix<float> bs_ref(n, B), bs_gpu(n, B);
          kernels::nearest_topb<float>(backend::scalar{}, m, x, c, bi_ref, bs_ref);
          kernels::nearest_topb<float>(backend::cuda{}, m, x, c, bi_gpu, bs_gpu);
          CHECK(test::max_rel_diff(bs_gpu.data(), bs_ref.data(), bs_ref.size()) < 1e-4);
          if (B <= 5) {
            CHECK((bi_ref.array() == bi_gpu.array()).all());
          } else {
            // Deep in a long list, two codes a few ulps apart may swap between float sums
            // taken with and without fused multiply-adds: check instead that every returned
            // code is distinct and scores what the list says.
            double worst = 0;
            bool distinct = true;
            for (index_t i = 0; i < n; ++i)
              for (index_t b = 0; b < B; ++b) {
                const double e = test::exact_score(m, x, c, i, bi_gpu(i, b));
                worst = std::max(worst, std::abs(e - bs_gpu(i, b)) / std::max(1.0, std::abs(e)));
                for (index_t b2 = 0; b2 < b; ++b2) distinct = distinct && bi_gpu(i, b2) != bi_gpu(i, b);
              }
            CHECK(worst < 1e-4);
            CHECK(distinct);
          }
        }
      }
}

TEST_CASE("cuda nearest_topb_device: caller scratch, own allocation and the host path agree", "[cuda]") {
  const index_t n = 777, d = 40, K = 300;
  const auto x = test::random_matrix<float>(n, d, 5);
  const auto c = test::random_matrix<float>(K, d, 6);
  float *dx, *dc, *ds, *scratch;
  std::int32_t* di;
  REQUIRE(cudaMalloc(&dx, x.size() * sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMalloc(&dc, c.size() * sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMalloc(&ds, n * 64 * sizeof(float)) == cudaSuccess);
  REQUIRE(cudaMalloc(&di, n * 64 * sizeof(std::int32_t)) == cudaSuccess);
  REQUIRE(cudaMalloc(&scratch, n * K * sizeof(float)) == cudaSuccess);
  cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice);
  cudaMemcpy(dc, c.data(), c.size() * sizeof(float), cudaMemcpyHostToDevice);
  for (index_t B : {10, 64}) {
    INFO("B = " << B);
    CHECK(cuda::nearest_topb_scratch_floats(n, K, B) == (B > 16 ? n * K : 0));
    matrix<std::int32_t> host_i(n, B), own_i(n, B), given_i(n, B);
    matrix<float> host_s(n, B), own_s(n, B), given_s(n, B);
    kernels::nearest_topb<float>(backend::cuda{}, metric::l2, x, c, host_i, host_s);
    for (float* sc : {static_cast<float*>(nullptr), scratch}) {
      auto& i_out = sc ? given_i : own_i;
      auto& s_out = sc ? given_s : own_s;
      cuda::nearest_topb_device(metric::l2, dx, n, d, dc, K, B, di, ds, nullptr, sc);
      cudaMemcpy(i_out.data(), di, n * B * sizeof(std::int32_t), cudaMemcpyDeviceToHost);
      cudaMemcpy(s_out.data(), ds, n * B * sizeof(float), cudaMemcpyDeviceToHost);
    }
    CHECK((own_i.array() == host_i.array()).all());
    CHECK((given_i.array() == host_i.array()).all());
    CHECK((given_s.array() == host_s.array()).all());
  }
  for (void* p : {static_cast<void*>(dx), static_cast<void*>(dc), static_cast<void*>(ds),
                  static_cast<void*>(di), static_cast<void*>(scratch)})
    cudaFree(p);
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

TEST_CASE("cuda softmax and log_softmax match a double-precision reference", "[cuda]") {
  // Against double, not the float scalar kernel: over 12,101 terms the scalar's running float
  // sum is itself off by a few 1e-5 (the GPU's tree sum is closer).
  for (index_t m : {1, 17, 1100, 12101, 30000}) {  // 30,000: too long for the shared-memory copy
    const auto x = test::random_matrix<float>(64, m, m, 4.0f);
    const matrix<double> xd = x.cast<double>();
    matrix<double> y_ref(64, m);
    matrix<float> y_gpu(64, m);
    for (bool log : {false, true}) {
      if (log) {
        kernels::log_softmax<double>(backend::scalar{}, xd, y_ref);
        kernels::log_softmax<float>(backend::cuda{}, x, y_gpu);
      } else {
        kernels::softmax<double>(backend::scalar{}, xd, y_ref);
        kernels::softmax<float>(backend::cuda{}, x, y_gpu);
      }
      INFO("m = " << m << (log ? ", log_softmax" : ", softmax"));
      CHECK(test::max_rel_diff(y_gpu.data(), y_ref.data(), y_ref.size()) < 1e-5);
    }
  }
}

TEST_CASE("cuda topk equals the scalar reference", "[cuda]") {
  for (index_t m : {1, 17, 100, 1100, 12101, 30000})  // 30,000: too long for the shared-memory copy
    for (index_t k0 : {1, 10, 64, 256}) {
      const index_t k = std::min(k0, m);
      auto x = test::random_matrix<float>(64, m, m + k, 4.0f);
      x(3, 0) = std::numeric_limits<float>::quiet_NaN();
      x(5, m - 1) = -std::numeric_limits<float>::infinity();
      if (m > 40)  // ties: equal values come out by index, +0 and -0 are equal
        for (index_t j = 0; j < 20; ++j) {
          x(7, 2 * j) = 9.f;
          x(8, 2 * j) = j % 2 ? 0.f : -0.f;
          x(8, 2 * j + 1) = -1e-30f;
        }
      matrix<std::int32_t> i_ref(64, k), i_gpu(64, k);
      matrix<float> v_ref(64, k), v_gpu(64, k);
      kernels::topk<float>(backend::scalar{}, x, i_ref, v_ref);
      kernels::topk<float>(backend::cuda{}, x, i_gpu, v_gpu);
      INFO("m = " << m << ", k = " << k);
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
