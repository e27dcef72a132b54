// The one collective operation below the training loop: a sum of doubles over the processes of
// a data-parallel fit, for the parts that need figures of the whole batch or epoch (metrics,
// batch normalisation's statistics).
#pragma once

#include <functional>

#include "chainrule/tensor.hpp"

namespace chainrule {

/// Sums n doubles in place over every process of a data-parallel fit, with the same result on
/// every process; every process calls it the same number of times with the same n.
using SumAcrossFn = std::function<void(double* data, Index n)>;

}  // namespace chainrule
