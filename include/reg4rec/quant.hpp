// reg4rec quantizers: item vector → semantic ID. The shared contract and policy tags
// (quantizer.hpp), the k-means family (kmeans, balanced k-means, residual k-means with
// beam-search encoding), SID tables with collision policies, the prefix trie and posting
// index used by constrained decoding, the token-category table and the SID metrics.
#pragma once

#include "reg4rec/core.hpp"
#include "reg4rec/kernels.hpp"
#include "reg4rec/io.hpp"

#include "reg4rec/quant/sid_metrics.hpp"
#include "reg4rec/quant/quantizer.hpp"
#include "reg4rec/quant/kmeans.hpp"
#include "reg4rec/quant/balanced_kmeans.hpp"
#include "reg4rec/quant/residual_encode.hpp"
#include "reg4rec/quant/residual_kmeans.hpp"
#include "reg4rec/quant/sid_table.hpp"
#include "reg4rec/quant/prefix_trie.hpp"
#include "reg4rec/quant/posting_index.hpp"
#include "reg4rec/quant/token_categories.hpp"
#include "reg4rec/quant/distinct_tuples.hpp"

namespace reg4rec::quant {
static_assert(is_quantizer_v<l2_kmeans> && is_quantizer_v<balanced_kmeans> && is_quantizer_v<rq_kmeans>,
              "the k-means quantizers must satisfy the quantizer contract");
}  // namespace reg4rec::quant
