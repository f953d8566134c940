// Backends are tags, chosen at compile time. Every kernel takes one as its first argument:
//
//   kernels::softmax(backend::scalar{}, x, y);   // the plain reference
//   kernels::softmax(backend::simd<>{}, x, y);   // xsimd, widest ISA the compiler flags allow
//   kernels::softmax(x, y);                      // reg4rec::default_backend
//
// The default is simd<> unless REG4REC_DEFAULT_BACKEND_SCALAR is defined or the target has no
// SIMD ISA xsimd knows. The cuda tag exists only in builds with the CUDA add-on.
#pragma once

#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "reg4rec/core/config.hpp"

namespace reg4rec {
namespace backend {

/// Portable scalar code: the reference every other backend is tested against.
struct scalar {
  static constexpr const char* name() noexcept { return "scalar"; }
};

/// xsimd code for architecture Arch (an xsimd arch tag such as xsimd::avx512bw).
template <class Arch = xsimd::default_arch>
struct simd {
  using arch = Arch;
  static constexpr const char* name() noexcept { return Arch::name(); }
};

/// The CUDA add-on (REG4REC_ENABLE_CUDA). Kernels taking this tag read and write host memory
/// and move it to and from the device themselves; reg4rec::cuda has the device-pointer API.
struct cuda {
  static constexpr const char* name() noexcept { return "cuda"; }
};

template <class B>
struct is_simd : std::false_type {};
template <class A>
struct is_simd<simd<A>> : std::true_type {};

/// True for backends that run on the host CPU.
template <class B>
inline constexpr bool is_host_v = std::is_same_v<B, scalar> || is_simd<B>::value;

// Kernel objects each backend specialises (same name in every backend folder).
template <class Backend, class T>
class nearest_plan;

}  // namespace backend

#if defined(REG4REC_DEFAULT_BACKEND_SCALAR)
using default_backend = backend::scalar;
#else
using default_backend =
    std::conditional_t<xsimd::default_arch::supported(), backend::simd<>, backend::scalar>;
#endif

}  // namespace reg4rec
