// reg4rec loss: fused softmax cross-entropy (weights, ignore index, label smoothing), the
// chunked linear + cross-entropy head, MSE.
#pragma once

#include "reg4rec/loss/cross_entropy.hpp"
#include "reg4rec/loss/mse.hpp"
