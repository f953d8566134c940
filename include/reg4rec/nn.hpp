// reg4rec nn: layers with hand-written forward and backward over a flat parameter store.
#pragma once

#include "reg4rec/nn/activation.hpp"
#include "reg4rec/nn/attention.hpp"
#include "reg4rec/nn/buffer.hpp"
#include "reg4rec/nn/dropout.hpp"
#include "reg4rec/nn/embedding.hpp"
#include "reg4rec/nn/init.hpp"
#include "reg4rec/nn/kv_cache.hpp"
#include "reg4rec/nn/linear.hpp"
#include "reg4rec/nn/mlp.hpp"
#include "reg4rec/nn/norm.hpp"
#include "reg4rec/nn/parameters.hpp"
#include "reg4rec/nn/transformer.hpp"
