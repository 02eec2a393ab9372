// monitor/charts.cpp — turning Monitor records into plots/ charts.
#include "monitor/charts.hpp"

#include <map>
#include <set>

#include "plots.hpp"

namespace moments {

namespace {

using plots::LineChart;
using plots::Scale;

// One column of the records, with the steps as x.
template <class Field>
std::pair<std::vector<double>, std::vector<double>> column(const Monitor& monitor, Field field) {
  std::vector<double> x, y;
  for (const Record& r : monitor.history()) {
    x.push_back(static_cast<double>(r.step));
    y.push_back(field(r));
  }
  return {x, y};
}

LineChart chart(const std::string& title, const std::string& y_label, Scale y_scale = Scale::linear, double smoothing = 0.0) {
  return LineChart({.title = title, .y_label = y_label, .y_scale = y_scale, .smoothing = smoothing});
}

// Turns plots' own error type into the library's, naming the file.
template <class Save>
void save(const std::string& path, Save&& save_png) {
  try {
    save_png();
  } catch (const std::exception& e) {
    fail("charts: cannot draw '", path, "': ", e.what());
  }
}

}  // namespace

void save_trends_png(const Monitor& monitor, const std::string& path, const std::string& title) {
  auto [steps, loss] = column(monitor, [](const Record& r) { return r.loss; });
  LineChart lr = chart("effective learning rate", "lr");
  for (size_t g = 0; g < (monitor.history().empty() ? 0 : monitor.history()[0].learning_rates.size()); ++g) {
    auto [x, y] = column(monitor, [g](const Record& r) { return r.learning_rates[g]; });
    lr.add_series("group " + std::to_string(g), x, y);
  }
  auto [x1, grad] = column(monitor, [](const Record& r) { return r.grad_norm; });
  auto [x2, ratio] = column(monitor, [](const Record& r) { return r.update_ratio; });
  plots::Figure figure({.title = title, .columns = 2});
  figure.add(chart("loss", "loss", Scale::linear, 0.9).add_series("loss", steps, loss))
      .add(lr)
      .add(chart("gradient norm", "||g||", Scale::log).add_series("||g||", x1, grad))
      .add(chart("update / parameter ratio", "||update|| / ||param||", Scale::log).add_series("ratio", x2, ratio));
  save(path, [&] { figure.save_png(path); });
}

void save_grad_norms_png(const Monitor& monitor, const std::string& path, const std::string& title) {
  LineChart c({.title = title.empty() ? "gradient norm per parameter" : title, .y_label = "||g||", .y_scale = Scale::log});
  for (size_t i = 0; i < monitor.param_names().size(); ++i) {
    auto [x, y] = column(monitor, [i](const Record& r) { return r.params[i].grad_norm; });
    c.add_series(monitor.param_names()[i], x, y);
  }
  save(path, [&] { c.save_png(path); });
}

void save_comparison_png(const std::vector<std::pair<std::string, const Monitor*>>& runs, const std::string& path,
                         const std::string& title) {
  LineChart loss = chart("training loss (smoothed)", "loss", Scale::log, 0.9);
  LineChart ratio = chart("update / parameter ratio", "||update|| / ||param||", Scale::log);
  LineChart grad = chart("gradient norm", "||g||", Scale::log, 0.6);
  LineChart lr = chart("effective learning rate (group 0)", "lr", Scale::log);
  for (const auto& [name, monitor] : runs) {
    auto [x, l] = column(*monitor, [](const Record& r) { return r.loss; });
    loss.add_series(name, x, l);
    ratio.add_series(name, x, column(*monitor, [](const Record& r) { return r.update_ratio; }).second);
    grad.add_series(name, x, column(*monitor, [](const Record& r) { return r.grad_norm; }).second);
    lr.add_series(name, x, column(*monitor, [](const Record& r) { return r.learning_rates.empty() ? 0.0 : r.learning_rates[0]; }).second);
  }
  plots::Figure figure({.title = title, .columns = 2});
  figure.add(loss).add(ratio).add(grad).add(lr);
  save(path, [&] { figure.save_png(path); });
}

void save_memory_png(const std::vector<std::pair<std::string, const Optimizer*>>& optimizers, const std::string& path,
                     const std::string& title) {
  std::vector<std::string> names;
  std::set<std::string> buffers;
  for (const auto& [name, opt] : optimizers) {
    names.push_back(name);
    for (const StateMemory& m : opt->state_bytes()) buffers.insert(m.buffer);
  }
  plots::BarChart bars({.title = title, .y_label = "bytes", .layout = plots::BarLayout::stacked,
                        .y_format = plots::NumberFormat::bytes});
  bars.set_categories(names);
  for (const std::string& buffer : buffers) {
    std::vector<double> values;
    for (const auto& [name, opt] : optimizers) {
      double bytes = 0;
      for (const StateMemory& m : opt->state_bytes())
        if (m.buffer == buffer) bytes += static_cast<double>(m.bytes);
      values.push_back(bytes);
    }
    bars.add_series(buffer, values);
  }
  save(path, [&] { bars.save_png(path); });
}

}  // namespace moments
