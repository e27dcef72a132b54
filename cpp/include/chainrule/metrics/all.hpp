// Every built-in metric: including a header registers its metric (see registry.hpp), so a new
// one is added here with one line.
#pragma once

#include "chainrule/metrics/accuracy.hpp"
#include "chainrule/metrics/mae.hpp"
#include "chainrule/metrics/precision_recall_f1.hpp"
#include "chainrule/metrics/r2.hpp"
#include "chainrule/metrics/rmse.hpp"
