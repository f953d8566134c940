// reg4rec decode: constrained beam search over a prefix trie or posting lists, reasoning step
// selection (CRSS), path sampling, and the CORP decoder that prunes inconsistent paths.
#pragma once

#include "reg4rec/decode/constraints.hpp"
#include "reg4rec/decode/step_selection.hpp"
#include "reg4rec/decode/beam_search.hpp"
#include "reg4rec/decode/sampler.hpp"
#include "reg4rec/decode/corp.hpp"
