// reg4rec model: the SID generator (encoder–decoder over semantic IDs) and its trainer, the
// decoder-only causal LM and the SASRec baseline built on it, shared training helpers.
#pragma once

#include "reg4rec/model/sid_layout.hpp"
#include "reg4rec/model/sid_generator.hpp"
#include "reg4rec/model/training.hpp"
#include "reg4rec/model/generator_trainer.hpp"
#include "reg4rec/model/causal_lm.hpp"
#include "reg4rec/model/sasrec.hpp"
