// reg4rec optim: AdamW and SGD (policy + per-run state), gradient clipping, LR schedules,
// a moving average of the weights.
#pragma once

#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/optim/clip.hpp"
#include "reg4rec/optim/schedule.hpp"
#include "reg4rec/optim/sgd.hpp"
#include "reg4rec/optim/weight_average.hpp"
