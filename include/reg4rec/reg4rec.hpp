// reg4rec: reasoning-enhanced generative recommendation, header-only.
// Include this for everything, or the module umbrellas (reg4rec/core.hpp, reg4rec/kernels.hpp,
// ...) for less. Order follows the data: core → kernels → layers → quantizers → model →
// decoding and alignment → data and evaluation.
#pragma once

#include "reg4rec/core.hpp"
#include "reg4rec/kernels.hpp"
#include "reg4rec/nn.hpp"
#include "reg4rec/loss.hpp"
#include "reg4rec/optim.hpp"
#include "reg4rec/io.hpp"
#include "reg4rec/quant.hpp"
#include "reg4rec/io/checkpoint.hpp"
#include "reg4rec/model.hpp"
#include "reg4rec/decode.hpp"
#include "reg4rec/align.hpp"
#include "reg4rec/data.hpp"
#include "reg4rec/eval.hpp"
