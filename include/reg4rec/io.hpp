// reg4rec io: atomic files, the binary container (checkpoints, models, tables), JSON reports,
// NumPy .npy arrays.
#pragma once

#include "reg4rec/io/atomic_file.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/io/json.hpp"
#include "reg4rec/io/npy.hpp"
