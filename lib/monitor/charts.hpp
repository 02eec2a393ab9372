// monitor/charts.hpp — the monitor's records as PNG charts, drawn by plots/.
//
// USAGE
//   save_trends_png(monitor, "trends.png", "Adam on Fashion-MNIST");
//   save_grad_norms_png(monitor, "grad_norms.png");
//   save_comparison_png({{"Adam", &adam_monitor}, {"SGD", &sgd_monitor}}, "comparison.png");
//   save_memory_png({{"Adam", &adam}, {"Adafactor", &adafactor}}, "memory.png");
//
// The monitor measures and plots/ draws; this file only hands one to the other.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "monitor.hpp"

namespace moments {

// Four panels: loss (raw faint, smoothed solid), effective learning rate, global
// gradient norm (log scale), update/parameter ratio ‖Δθ‖/‖θ‖ (log scale).
void save_trends_png(const Monitor& monitor, const std::string& path, const std::string& title = "");
// Each parameter's gradient norm over the steps (log scale).
void save_grad_norms_png(const Monitor& monitor, const std::string& path, const std::string& title = "");
// Several runs overlaid: loss, update/parameter ratio, gradient norm, learning rate.
void save_comparison_png(const std::vector<std::pair<std::string, const Monitor*>>& runs, const std::string& path,
                         const std::string& title = "");
// Optimizer-state bytes, stacked by buffer name, one bar per optimizer.
void save_memory_png(const std::vector<std::pair<std::string, const Optimizer*>>& optimizers, const std::string& path,
                     const std::string& title = "Optimizer state memory");

}  // namespace moments
