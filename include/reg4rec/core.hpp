// reg4rec core: configuration, errors, views, random numbers, workspaces, threads.
#pragma once

#include "reg4rec/core/config.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/metric.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"
