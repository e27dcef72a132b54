// Every built-in optimizer: including a header registers its optimizer (see registry.hpp), so
// a new one is added here with one line.
#pragma once

#include "chainrule/optimizers/adam.hpp"
#include "chainrule/optimizers/rmsprop.hpp"
#include "chainrule/optimizers/sgd.hpp"
