// Every built-in layer: including a header registers its layer (see registry.hpp), so a new
// one is added here with one line.
#pragma once

#include "chainrule/layers/dense.hpp"
