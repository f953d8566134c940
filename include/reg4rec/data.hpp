// reg4rec data: loaders (sequence files, items.tsv metadata, raw user,item,timestamp logs),
// the CSR sequence dataset with its id maps, the leave-one-out split, and the item features
// of SPEC §2 (hashed TF-IDF text + training co-occurrence PPMI, randomized truncated SVD).
#pragma once

#include "reg4rec/core.hpp"
#include "reg4rec/data/id_map.hpp"
#include "reg4rec/data/sequence_dataset.hpp"
#include "reg4rec/data/sequence_loader.hpp"
#include "reg4rec/data/interaction_loader.hpp"
#include "reg4rec/data/item_metadata.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/data/randomized_svd.hpp"
#include "reg4rec/data/text_features.hpp"
#include "reg4rec/data/behaviour_features.hpp"
#include "reg4rec/data/graph_smoothing.hpp"
#include "reg4rec/data/item_features.hpp"
