// reg4rec align: recommendation reward policies, PARS preference alignment (GRPO) and MSRA
// multi-step reward augmentation.
#pragma once

#include "reg4rec/align/rewards.hpp"
#include "reg4rec/align/pars.hpp"
#include "reg4rec/align/msra.hpp"
