// Every built-in loss: including a header registers its loss (see registry.hpp), so a new one
// is added here with one line.
#pragma once

#include "chainrule/losses/huber.hpp"
#include "chainrule/losses/mae.hpp"
#include "chainrule/losses/mse.hpp"
#include "chainrule/losses/sigmoid_binary_cross_entropy.hpp"
#include "chainrule/losses/softmax_cross_entropy.hpp"
