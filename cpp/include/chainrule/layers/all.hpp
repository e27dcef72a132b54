// Every built-in layer: including a header registers its layer (see registry.hpp), so a new
// one is added here with one line.
#pragma once

#include "chainrule/layers/batch_norm.hpp"
#include "chainrule/layers/dense.hpp"
#include "chainrule/layers/dropout.hpp"
#include "chainrule/layers/layer_norm.hpp"
