// Every built-in activation.
#pragma once

#include "chainrule/activations/elu.hpp"
#include "chainrule/activations/gelu.hpp"
#include "chainrule/activations/linear.hpp"
#include "chainrule/activations/relu.hpp"
#include "chainrule/activations/sigmoid.hpp"
#include "chainrule/activations/silu.hpp"
#include "chainrule/activations/softmax.hpp"
#include "chainrule/activations/softplus.hpp"
#include "chainrule/activations/tanh.hpp"
