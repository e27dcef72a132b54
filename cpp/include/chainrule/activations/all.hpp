// Every built-in activation: including a header registers its activation (see registry.hpp),
// so a new one is added here with one line.
#pragma once

#include "chainrule/activations/elu.hpp"
#include "chainrule/activations/gelu.hpp"
#include "chainrule/activations/linear.hpp"
#include "chainrule/activations/mish.hpp"
#include "chainrule/activations/relu.hpp"
#include "chainrule/activations/sigmoid.hpp"
#include "chainrule/activations/silu.hpp"
#include "chainrule/activations/softmax.hpp"
#include "chainrule/activations/softplus.hpp"
#include "chainrule/activations/tanh.hpp"
