// Every built-in learning-rate schedule.
#pragma once

#include "chainrule/schedules/constant.hpp"
#include "chainrule/schedules/cosine.hpp"
#include "chainrule/schedules/exponential.hpp"
#include "chainrule/schedules/plateau.hpp"
#include "chainrule/schedules/step.hpp"
