// What fit's per-layer diagnostics record and how often (training/diagnostics.hpp measures).
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule {

/// What fit records, and how often. Off by default: then the training loop does nothing more
/// than a test of `on` per step.
struct DiagnosticsOptions {
  bool on = false;
  /// A record after every `every_epochs`-th epoch (its last step) - or, when every_steps > 0,
  /// after every every_steps-th step of the fit (counted over epochs; steps after the last
  /// multiple are not recorded).
  Index every_epochs = 1;
  Index every_steps = 0;
  /// Fixed-bin histograms of H, dZ (the record's last step) and W (after it), `bins` bins each.
  bool histograms = false;
  Index bins = 20;
  /// ValueError on every_epochs < 1, every_steps < 0 or bins outside [1, 10000].
  void check() const;
};

}  // namespace chainrule
