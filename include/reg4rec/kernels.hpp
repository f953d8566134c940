// reg4rec kernels: the hot operations, each with a scalar reference, an xsimd version and,
// where marked, a CUDA version; see backend/tags.hpp for choosing a backend.
#pragma once

#include "reg4rec/core.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/kernels/adamw.hpp"
#include "reg4rec/kernels/finite.hpp"
#include "reg4rec/kernels/gemm.hpp"
#include "reg4rec/kernels/gelu.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/kernels/norm.hpp"
#include "reg4rec/kernels/softmax.hpp"
#include "reg4rec/kernels/topk.hpp"
