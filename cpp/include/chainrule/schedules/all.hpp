// Every built-in learning-rate schedule: including a header registers its schedule (see
// registry.hpp), so a new one is added here with one line.
#pragma once

#include "chainrule/schedules/constant.hpp"
#include "chainrule/schedules/cosine.hpp"
#include "chainrule/schedules/exponential.hpp"
#include "chainrule/schedules/plateau.hpp"
#include "chainrule/schedules/step.hpp"
