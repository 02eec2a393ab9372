// Suite `monitor`: every statistic against a hand computation on a tiny model,
// the CSV, non-finite detection, loss spikes, memory, and the progress line.
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <stb/stb_image.h>

#include "plots.hpp"
#include "temp_files.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_error;
using testing::fresh_path;
using testing::read_file;
using testing::temp_path;

namespace {

// A 2 → 1 linear model with fixed weights: w = [1, -2], b = [0.5].
struct Tiny {
  Generator gen{0};
  Linear layer{2, 1, gen};
  Tiny() {
    layer.weight.data()[0] = 1.0f;
    layer.weight.data()[1] = -2.0f;
    layer.bias.data()[0] = 0.5f;
  }
  // loss = mean((x w + b − y)²) on one example x = [1, 1], y = 0: z = −0.5, dL/dz = −1,
  // so dL/dw = [−1, −1] and dL/db = [−1].
  float forward_backward() {
    Tensor loss = mse_loss(layer.forward(Tensor::from({1.0f, 1.0f}, {1, 2})), Tensor::zeros({1, 1}));
    loss.backward();
    return loss.item();
  }
};

// Trains `tiny` with Adam for steps [from, to], recording each with `monitor`.
void train_tiny(Tiny& tiny, Adam& adam, Monitor& monitor, int64_t from, int64_t to) {
  for (int64_t step = from; step <= to; ++step) {
    adam.zero_grad();
    float loss = tiny.forward_backward();
    monitor.before_step();
    adam.step();
    monitor.record(step, loss);
  }
}

// Synthetic records for steps [from, to]: a fixed parameter, a loss that falls
// as 1/step with a spike at step 120 (so the spike window shows in the log).
void record_synthetic(Monitor& monitor, Tensor& p, int64_t from, int64_t to) {
  for (int64_t step = from; step <= to; ++step) {
    p.set_grad(Tensor::ones({1}));
    monitor.before_step();
    monitor.record(step, step == 120 ? 3.0 : 1.0 / static_cast<double>(step));
  }
}

}  // namespace

TEST_CASE("SGD: norms, update ratio and cosine match a hand computation") {
  Tiny tiny;
  SGD sgd(tiny.layer.parameters(), {.learning_rate = 0.1});
  Monitor monitor(sgd, tiny.layer.named_parameters());
  float loss = tiny.forward_backward();
  monitor.before_step();
  sgd.step();
  const Record* r = monitor.record(1, loss);
  REQUIRE(r != nullptr);
  CHECK(r->loss == doctest::Approx(0.25));
  CHECK(r->learning_rates == std::vector<double>{0.1});
  CHECK(r->grad_norm == doctest::Approx(std::sqrt(3.0)));                    // ‖[−1, −1, −1]‖
  CHECK(r->update_norm == doctest::Approx(0.1 * std::sqrt(3.0)).epsilon(1e-6));  // SGD: Δθ = −γ g
  CHECK(r->cosine == doctest::Approx(1.0));                                   // straight down the gradient
  // After the step θ = [1.1, −1.9, 0.6].
  CHECK(r->param_norm == doctest::Approx(std::sqrt(1.21 + 3.61 + 0.36)).epsilon(1e-6));
  CHECK(r->update_ratio == doctest::Approx(r->update_norm / r->param_norm));
  REQUIRE(r->params.size() == 2);
  CHECK(r->params[0].name == "weight");
  CHECK(r->params[1].name == "bias");
  CHECK(r->params[0].grad_norm == doctest::Approx(std::sqrt(2.0)));
  CHECK(r->params[1].update_norm == doctest::Approx(0.1).epsilon(1e-6));
  CHECK(r->params[1].param_norm == doctest::Approx(0.6));
  CHECK(r->nonfinite.empty());
  CHECK(r->buffers.empty());  // plain SGD keeps no state
  CHECK(std::isnan(r->step_ms));  // no previous record to time against
}

TEST_CASE("Adam: state buffer statistics, memory, and a cosine below 1") {
  Tiny tiny;
  Adam adam(tiny.layer.parameters(), {.learning_rate = 0.01});
  Monitor monitor(adam, tiny.layer.named_parameters());
  float loss = tiny.forward_backward();
  tiny.layer.weight.grad().data()[1] = -3.0f;  // make the gradient uneven: g = [−1, −3, −1]
  monitor.before_step();
  adam.step();
  const Record* r = monitor.record(1, loss);
  REQUIRE(r->buffers.size() == 2);
  CHECK(r->buffers[0].buffer == "exp_avg");                               // m = (1 − β1) g
  CHECK(r->buffers[0].mean_abs == doctest::Approx(0.1 * 5.0 / 3.0));
  CHECK(r->buffers[0].max_abs == doctest::Approx(0.3));
  CHECK(r->buffers[1].buffer == "exp_avg_sq");                            // v = (1 − β2) g²
  CHECK(r->buffers[1].mean_abs == doctest::Approx(0.001 * 11.0 / 3.0));
  CHECK(r->buffers[1].max_abs == doctest::Approx(0.009));
  // Adam's first step is −α sign(g): every element moves 0.01, so cos = Σ|g| / (√3 ‖g‖).
  CHECK(r->update_norm == doctest::Approx(0.01 * std::sqrt(3.0)).epsilon(1e-4));
  CHECK(r->cosine == doctest::Approx(5.0 / (std::sqrt(3.0) * std::sqrt(11.0))).epsilon(1e-4));
  int64_t bytes = 0;
  for (const StateMemory& m : r->memory) bytes += m.bytes;
  CHECK(bytes == 2 * 3 * 4);  // m and v, 3 floats each
  CHECK(bytes == adam.state_bytes_total());
}

TEST_CASE("Adafactor's effective learning rate is alpha_t = rho_t max(eps2, RMS(theta))") {
  Tiny tiny;
  Adafactor adafactor({tiny.layer.weight}, {.learning_rate = 0.01});
  Monitor monitor(adafactor);
  float loss = tiny.forward_backward();
  double rms = std::sqrt((1.0 + 4.0) / 2.0);  // RMS of w = [1, −2] before the step
  monitor.before_step();
  adafactor.step();
  const Record* r = monitor.record(1, loss);
  CHECK(r->learning_rates[0] == doctest::Approx(0.01 * rms));
  CHECK(r->params[0].name == "param0");  // no names given
  REQUIRE(r->buffers.size() == 2);
  CHECK(r->buffers[0].buffer == "col_var");
  CHECK(r->buffers[1].buffer == "row_var");
}

TEST_CASE("the CSV has a stable header and one row per recorded step") {
  std::string path = fresh_path("moments_monitor_test.csv");
  {
    Tiny tiny;
    Adam adam(tiny.layer.parameters(), {.learning_rate = 0.01});
    Monitor monitor(adam, tiny.layer.named_parameters(), {.every = 2, .csv_path = path});
    for (int64_t step = 1; step <= 6; ++step) {
      adam.zero_grad();
      float loss = tiny.forward_backward();
      monitor.before_step();
      adam.step();
      const Record* r = monitor.record(step, loss);
      CHECK((r != nullptr) == (step % 2 == 0));  // every = 2
    }
    CHECK(monitor.history().size() == 3);
    CHECK(std::isfinite(monitor.history()[1].step_ms));
    CHECK(monitor.history()[1].step_ms >= 0.0);
  }
  std::ifstream in(path);
  std::string header, line;
  std::getline(in, header);
  CHECK(header.rfind("step,loss,smoothed_loss,step_ms,lr.0,grad_norm,param_norm,update_norm,update_ratio,cosine,", 0) == 0);
  CHECK(header.find(",grad_norm.weight,param_norm.weight,update_norm.weight,update_ratio.weight,") != std::string::npos);
  CHECK(header.find(",state.exp_avg.mean_abs,state.exp_avg.max_abs,state.exp_avg_sq.mean_abs,") != std::string::npos);
  CHECK(header.find(",bytes.exp_avg.cpu,bytes.exp_avg_sq.cpu") != std::string::npos);
  size_t columns = static_cast<size_t>(std::count(header.begin(), header.end(), ',')) + 1;
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    CHECK(static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1 == columns);
    CHECK(line.rfind(std::to_string(2 * rows) + ",", 0) == 0);  // steps 2, 4, 6
  }
  CHECK(rows == 3);
  std::filesystem::remove(path);
  check_error([] {
    Tensor p = Tensor::ones({1}).requires_grad_();
    SGD sgd({p});
    Monitor monitor(sgd, {}, {.csv_path = "/nonexistent-dir/run.csv"});
    p.set_grad(Tensor::ones({1}));
    monitor.record(1, 1.0);
  }, {"Monitor", "/nonexistent-dir/run.csv"});
}

TEST_CASE("resuming: a new monitor appends to the log, which then equals an uninterrupted run's byte for byte") {
  const MonitorOptions options{.log_mode = LogMode::append, .time_steps = false};  // step_ms is wall time
  std::string straight = fresh_path("moments_monitor_straight.csv"), resumed = fresh_path("moments_monitor_resumed.csv");
  {
    Tiny tiny;
    Adam adam(tiny.layer.parameters(), {.learning_rate = 0.01});
    MonitorOptions o = options;
    o.csv_path = straight;
    Monitor monitor(adam, tiny.layer.named_parameters(), o);
    train_tiny(tiny, adam, monitor, 1, 200);
  }
  Tiny tiny;
  Adam adam(tiny.layer.parameters(), {.learning_rate = 0.01});
  MonitorOptions o = options;
  o.csv_path = resumed;
  std::string state;
  {
    Monitor first(adam, tiny.layer.named_parameters(), o);
    train_tiny(tiny, adam, first, 1, 100);
    state = first.state();  // what a checkpoint would hold
  }  // the first process ends
  Monitor second(adam, tiny.layer.named_parameters(), o);
  second.restore(state);
  train_tiny(tiny, adam, second, 101, 200);
  CHECK(second.history().size() == 100);
  std::string expected = read_file(straight), actual = read_file(resumed);
  CHECK(std::count(actual.begin(), actual.end(), '\n') == 201);  // the header and steps 1–200
  CHECK(actual == expected);
  std::filesystem::remove(straight);
  std::filesystem::remove(resumed);
}

TEST_CASE("resuming from an earlier checkpoint drops the rows it repeats and a torn last row") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p}, {.learning_rate = 0.0});  // θ stays put: every row is a function of its step
  std::string straight = fresh_path("moments_monitor_straight2.csv"), resumed = fresh_path("moments_monitor_resumed2.csv");
  {
    Monitor monitor(sgd, {}, {.csv_path = straight, .time_steps = false});
    record_synthetic(monitor, p, 1, 200);
  }
  std::string state_at_100;
  {
    Monitor first(sgd, {}, {.csv_path = resumed, .time_steps = false});
    record_synthetic(first, p, 1, 100);
    state_at_100 = first.state();  // the checkpoint we resume from
    record_synthetic(first, p, 101, 150);  // steps after it, lost with the process
  }
  std::ofstream(resumed, std::ios::app) << "151,0.006622";  // killed while writing step 151's row
  std::string before = read_file(resumed);
  {  // a monitor of other columns may not append: the file stays as it was
    Tensor q = Tensor::ones({2}).requires_grad_();
    SGD other({p, q});
    Monitor wrong(other, {{"p", p}, {"q", q}}, {.csv_path = resumed, .log_mode = LogMode::append});
    q.set_grad(Tensor::ones({2}));
    p.set_grad(Tensor::ones({1}));
    check_error([&] { wrong.record(101, 1.0); },
                {"Monitor", resumed, "columns", "only in the log: grad_norm.param0", "only in this monitor: grad_norm.p"});
    CHECK(read_file(resumed) == before);
  }
  Monitor second(sgd, {}, {.csv_path = resumed, .log_mode = LogMode::append, .time_steps = false});
  second.restore(state_at_100);
  record_synthetic(second, p, 101, 200);
  CHECK(second.history()[19].loss_spike);  // step 120: the restored window knows the losses before
  CHECK(read_file(resumed) == read_file(straight));
  std::filesystem::remove(straight);
  std::filesystem::remove(resumed);
}

TEST_CASE("an existing log is refused unless the monitor is told to append or overwrite") {
  std::string path = fresh_path("moments_monitor_refuse.csv");
  std::ofstream(path) << "an earlier run's log\n";
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p});
  check_error([&] { Monitor monitor(sgd, {}, {.csv_path = path}); },
              {"Monitor", path, "already exists", "LogMode::append", "LogMode::overwrite"});
  CHECK(read_file(path) == "an earlier run's log\n");
  {
    Monitor monitor(sgd, {}, {.csv_path = path, .log_mode = LogMode::overwrite, .time_steps = false});
    record_synthetic(monitor, p, 1, 2);
  }
  std::string text = read_file(path);
  CHECK(text.rfind("step,loss,", 0) == 0);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
  std::ofstream(path, std::ios::trunc).flush();  // an empty file is no log: it is simply written
  {
    Monitor monitor(sgd, {}, {.csv_path = path, .time_steps = false});
    record_synthetic(monitor, p, 1, 2);
  }
  CHECK(read_file(path) == text);
  std::ofstream(path, std::ios::trunc) << "step,loss,smoo";  // killed while writing the header
  {
    Monitor monitor(sgd, {}, {.csv_path = path, .log_mode = LogMode::append, .time_steps = false});
    record_synthetic(monitor, p, 1, 2);
  }
  CHECK(read_file(path) == text);
  std::filesystem::remove(path);
}

TEST_CASE("state() and restore(): exact round trip, and a clear error for anything else") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p});
  Monitor first(sgd, {}, {.spike_window = 5, .smoothing = 0.7});
  record_synthetic(first, p, 1, 9);
  Monitor second(sgd, {}, {.spike_window = 5, .smoothing = 0.7});
  second.restore(first.state());
  CHECK(second.state() == first.state());
  check_error([&] { second.restore("moments.monitor.v1 last_step=x ema=1 ema_weight=1 losses="); },
              {"Monitor::restore", "'x' is not a number"});
  check_error([&] { second.restore("hello"); }, {"Monitor::restore", "moments.monitor.v1"});
  record_synthetic(second, p, 10, 10);
  check_error([&] { second.restore(first.state()); }, {"Monitor::restore", "before the first record"});
}

TEST_CASE("a write error is reported once, naming the file and the reason") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p});
  // /dev/full takes no byte: every write fails with ENOSPC, as on a full disk.
  if (std::filesystem::exists("/dev/full")) {
    check_error([&] {
      Monitor monitor(sgd, {}, {.csv_path = "/dev/full"});
      record_synthetic(monitor, p, 1, 3);
    }, {"Monitor", "writing the log '/dev/full' failed at its header: No space left on device"});
    Monitor lenient(sgd, {}, {.csv_path = "/dev/full", .on_write_error = OnWriteError::warn_once});
    record_synthetic(lenient, p, 1, 3);
    CHECK(lenient.history().size() == 3);  // recording goes on in memory
    REQUIRE(lenient.warnings().size() == 1);
    CHECK(lenient.warnings()[0].find("No space left on device") != std::string::npos);
  } else {
    MESSAGE("no /dev/full here: its case is skipped");
  }

  // A file size limit makes a write stop part way through a row (a short write,
  // then EFBIG), as a filling disk does: the file must end with a whole row.
  std::string path = fresh_path("moments_monitor_limit.csv");
  std::signal(SIGXFSZ, SIG_IGN);  // report EFBIG instead of killing the process
  rlimit old_limit{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  rlimit limit = old_limit;
  limit.rlim_cur = 1000;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  Monitor lenient(sgd, {}, {.csv_path = path, .on_write_error = OnWriteError::warn_once});
  record_synthetic(lenient, p, 1, 100);
  std::string thrown = testing::error_of([&] {
    Monitor strict(sgd, {}, {.csv_path = fresh_path("moments_monitor_limit2.csv")});
    record_synthetic(strict, p, 1, 100);
  });
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, SIG_DFL);
  std::filesystem::remove(temp_path("moments_monitor_limit2.csv"));
  CHECK(lenient.history().size() == 100);
  REQUIRE(lenient.warnings().size() == 1);
  std::string warning = lenient.warnings()[0];
  CAPTURE(warning);
  CHECK(warning.find(path) != std::string::npos);
  CHECK(warning.find("File too large") != std::string::npos);
  std::string text = read_file(path);
  REQUIRE(!text.empty());
  CHECK(text.size() <= 1000);
  CHECK(text.back() == '\n');  // no torn row
  int64_t rows = std::count(text.begin(), text.end(), '\n') - 1;
  CHECK(rows > 0);
  CHECK(warning.find("failed at step " + std::to_string(rows + 1)) != std::string::npos);
  CHECK(warning.find("keeps its rows up to step " + std::to_string(rows)) != std::string::npos);
  CHECK(thrown.find("failed at step " + std::to_string(rows + 1) + ": File too large") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("a NaN gradient or value is named with its parameter and step, and can throw") {
  Tiny tiny;
  SGD sgd(tiny.layer.parameters(), {.learning_rate = 0.1});
  Monitor monitor(sgd, tiny.layer.named_parameters());
  float loss = tiny.forward_backward();
  tiny.layer.bias.grad().data()[0] = std::nanf("");
  monitor.before_step();
  sgd.step();
  const Record* r = monitor.record(7, loss);
  CHECK(r->nonfinite.find("step 7") != std::string::npos);
  CHECK(r->nonfinite.find("gradient of 'bias'") != std::string::npos);
  CHECK(monitor.warnings().back() == r->nonfinite);

  Tiny other;
  SGD sgd2(other.layer.parameters(), {.learning_rate = 0.1});
  Monitor strict(sgd2, other.layer.named_parameters(), {.throw_on_nonfinite = true});
  other.forward_backward();
  other.layer.weight.data()[1] = std::numeric_limits<float>::infinity();  // a value, not a gradient
  check_error([&] { strict.record(3, 1.0); }, {"Monitor", "step 3", "value of 'weight'", "inf"});
}

TEST_CASE("a loss far above the recent window is flagged as a spike") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p}, {.learning_rate = 0.0});
  Monitor monitor(sgd, {}, {.spike_window = 20, .spike_z = 4.0});
  for (int64_t step = 1; step <= 30; ++step) {
    p.set_grad(Tensor::ones({1}));
    double loss = step == 25 ? 5.0 : 1.0 + 0.01 * static_cast<double>(step % 3);
    const Record* r = monitor.record(step, loss);
    CHECK(r->loss_spike == (step == 25));
  }
  REQUIRE(monitor.warnings().size() == 1);
  CHECK(monitor.warnings()[0].find("step 25: loss spike") != std::string::npos);
}

TEST_CASE("the smoothed loss is a debiased EMA over every step") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p});
  Monitor monitor(sgd, {}, {.every = 2, .smoothing = 0.5});
  p.set_grad(Tensor::ones({1}));
  monitor.record(1, 4.0);                  // not recorded, but smoothed: ema = 2, weight 0.5
  const Record* r = monitor.record(2, 2.0);  // ema = 0.5·2 + 0.5·2 = 2, weight 0.75 → 2/0.75
  CHECK(r->smoothed_loss == doctest::Approx(2.0 / 0.75));
  check_error([&] { Monitor(sgd, {}, {.every = 0}); }, {"Monitor", "every 0"});
  check_error([&] { Monitor(sgd, {}, {.smoothing = 1.0}); }, {"Monitor", "smoothing 1"});
}

TEST_CASE("the progress line: plain lines when not on a terminal") {
  CHECK(ProgressLine::format(120, 500, 0.43121, 0.452, 85.3) ==
        "step 120/500  loss 0.4312  smoothed 0.4520  85.3 steps/s  ETA 0:04");
  CHECK(ProgressLine::format(1, 10, 2.0, 2.0, 0.0) == "step 1/10  loss 2.0000  smoothed 2.0000");
  std::FILE* out = std::tmpfile();
  ProgressLine progress(5, out, 2);
  progress.set_terminal(false);
  for (int64_t step = 1; step <= 5; ++step) progress.update(step, 1.0);
  progress.finish();
  std::rewind(out);
  char buffer[512] = {};
  size_t n = std::fread(buffer, 1, sizeof buffer - 1, out);
  std::fclose(out);
  std::string text(buffer, n);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);  // steps 2, 4 and the last, 5
  CHECK(text.find("step 2/5  loss 1.0000  smoothed 1.0000") == 0);
  CHECK(text.find('\r') == std::string::npos);
  check_error([] { ProgressLine(0); }, {"ProgressLine", "total_steps 0"});
}

TEST_CASE("charts: trends, gradient norms, comparison and memory are written as PNG") {
  Tiny tiny;
  Adam adam(tiny.layer.parameters(), {.learning_rate = 0.01});
  Monitor monitor(adam, tiny.layer.named_parameters());
  for (int64_t step = 1; step <= 20; ++step) {
    adam.zero_grad();
    float loss = tiny.forward_backward();
    monitor.before_step();
    adam.step();
    monitor.record(step, loss);
  }
  std::string dir = std::filesystem::temp_directory_path().string();
  auto check_png = [](const std::string& path, int width, int height) {
    int w = 0, h = 0, channels = 0;
    CAPTURE(path);
    REQUIRE(stbi_info(path.c_str(), &w, &h, &channels) == 1);
    CHECK(w == width);
    CHECK(h == height);
    std::filesystem::remove(path);
  };
  save_trends_png(monitor, dir + "/moments_trends.png", "trends");
  // 2 × 2 panels and a title band: padding and a line of title text (38 pixels in the bitmap font, 32 in DejaVu Sans)
  check_png(dir + "/moments_trends.png", 2 * 560, 2 * 360 + moments::plots::theme::pad + moments::plots::text_height(2));
  save_grad_norms_png(monitor, dir + "/moments_grads.png");
  check_png(dir + "/moments_grads.png", 800, 500);
  save_comparison_png({{"a", &monitor}, {"b", &monitor}}, dir + "/moments_compare.png");
  check_png(dir + "/moments_compare.png", 2 * 560, 2 * 360);  // no title, no band
  save_memory_png({{"Adam", &adam}}, dir + "/moments_memory.png");
  check_png(dir + "/moments_memory.png", 800, 500);
  check_error([&] { save_trends_png(monitor, "/nonexistent-dir/t.png"); }, {"charts", "/nonexistent-dir/t.png"});
}

// ---- optimizer internals (MonitorOptions::internals) -----------------------

namespace {

// A 4 → 3 linear layer (a 3 x 4 weight matrix and a bias vector) trained on a fresh
// random batch of 8 each step, with a monitor attached (or not: monitor == nullptr).
struct Small {
  Generator gen{7};
  Linear layer{4, 3, gen};
  Generator data{11};
  float scale = 1.0f;  // of the inputs (a larger one gives a gradient larger than the moments expect)
  float forward_backward() {
    Tensor loss = mse_loss(layer.forward(randn({8, 4}, data) * scale), randn({8, 3}, data));
    loss.backward();
    return loss.item();
  }
};

// Steps first .. last.
void train_small(Small& small, Optimizer& opt, Monitor* monitor, int64_t last, int64_t first = 1) {
  for (int64_t step = first; step <= last; ++step) {
    opt.zero_grad();
    float loss = small.forward_backward();  // forward, backward
    if (monitor) monitor->before_step();
    opt.step();  // update
    if (monitor) monitor->record(step, loss);
  }
}

// A record's value of internal `name` for parameter index i.
double internal(const Monitor& monitor, const Record& r, size_t i, const std::string& name) {
  const auto& names = monitor.internals_names();
  auto at = std::find(names.begin(), names.end(), name);
  REQUIRE_MESSAGE(at != names.end(), "no internal named ", name);
  return r.params.at(i).internals.at(static_cast<size_t>(at - names.begin()));
}

std::vector<double> values_of(const Tensor& t) {
  Tensor host = t.to(Device::cpu);
  return std::vector<double>(host.data(), host.data() + host.numel());
}

double nearest_rank(std::vector<double> x, double q) {
  std::sort(x.begin(), x.end());
  size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(x.size())));
  return x[std::clamp<size_t>(k, 1, x.size()) - 1];
}

// Adam's internals recomputed from the optimizer's state, element by element, in double.
void check_adam_internals(const Monitor& monitor, const Record& r, size_t i, const std::vector<double>& m,
                          const std::vector<double>& v, const std::vector<double>& g, double beta2, double eps,
                          int64_t t) {
  double m2 = 0, g2 = 0, mg = 0;
  std::vector<double> sqrt_v_hat;
  int64_t eps_dominated = 0;
  for (size_t k = 0; k < v.size(); ++k) {
    m2 += m[k] * m[k], g2 += g[k] * g[k], mg += m[k] * g[k];
    sqrt_v_hat.push_back(std::sqrt(v[k] / (1.0 - std::pow(beta2, static_cast<double>(t)))));
    eps_dominated += eps > 0.5 * (sqrt_v_hat.back() + eps);
  }
  CAPTURE(i);
  CHECK(internal(monitor, r, i, "adam.m_norm") == doctest::Approx(std::sqrt(m2)).epsilon(1e-6));
  CHECK(internal(monitor, r, i, "adam.cos_m_g") == doctest::Approx(mg / std::sqrt(m2 * g2)).epsilon(1e-6));
  CHECK(internal(monitor, r, i, "adam.sqrt_v_hat_p1") == doctest::Approx(nearest_rank(sqrt_v_hat, 0.01)).epsilon(1e-6));
  CHECK(internal(monitor, r, i, "adam.sqrt_v_hat_p50") == doctest::Approx(nearest_rank(sqrt_v_hat, 0.5)).epsilon(1e-6));
  CHECK(internal(monitor, r, i, "adam.sqrt_v_hat_p99") == doctest::Approx(nearest_rank(sqrt_v_hat, 0.99)).epsilon(1e-6));
  CHECK(internal(monitor, r, i, "adam.eps_share") ==
        doctest::Approx(static_cast<double>(eps_dominated) / static_cast<double>(v.size())));
}

}  // namespace

TEST_CASE("internals: Adam's |m|, cos(m, g), percentiles of sqrt(v_hat) and eps's share match a direct computation") {
  for (bool amsgrad : {false, true}) {
    CAPTURE(amsgrad);
    Small small;
    // ε = 0.3 is within the spread of √v̂ for this problem (0.19 .. 0.52), so some elements are ε-dominated and
    // some are not.
    Adam adam(small.layer.parameters(), {.learning_rate = 0.01, .eps = 0.3, .amsgrad = amsgrad});
    Monitor monitor(adam, small.layer.named_parameters(), {.internals = true});
    train_small(small, adam, &monitor, 6);
    const Record& r = monitor.history().back();
    const std::vector<Tensor> params = adam.all_params();
    double shares = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      const ParamState* s = adam.state(params[i]);
      check_adam_internals(monitor, r, i, values_of(s->buffers.at("exp_avg")),
                           values_of(s->buffers.at(amsgrad ? "max_exp_avg_sq" : "exp_avg_sq")),
                           values_of(params[i].grad()), 0.999, 0.3, 6);
      shares += internal(monitor, r, i, "adam.eps_share");
    }
    CHECK(shares > 0.0);  // the test sees both sides of ε
    CHECK(shares < 2.0);
    const auto& columns = monitor.columns();
    CHECK(std::find(columns.begin(), columns.end(), "adam.m_norm.weight") != columns.end());
    CHECK(std::find(columns.begin(), columns.end(), "adam.eps_share.bias") != columns.end());
  }
}

TEST_CASE("internals: the percentiles of a large tensor (selected through a histogram) are the exact ones") {
  // 200 x 120 = 24,000 elements (over the 16,384 below which the monitor selects in a copy); the first 500
  // have no gradient, so v = 0 there and p1 falls in a bin of many equal values.
  Generator gen{5};
  Tensor w = randn({200, 120}, gen);
  w.requires_grad_();
  Adam adam(std::vector<Tensor>{w}, {.learning_rate = 0.01, .eps = 1e-3});
  Monitor monitor(adam, {{"w", w}}, {.internals = true});
  for (int64_t step = 1; step <= 3; ++step) {
    Tensor g = randn({200, 120}, gen) * (0.01f * static_cast<float>(step));
    for (int64_t k = 0; k < 500; ++k) g.data()[k] = 0.0f;
    w.set_grad(g);
    monitor.before_step();
    adam.step();
    monitor.record(step, 1.0);
  }
  const ParamState* s = adam.state(w);
  check_adam_internals(monitor, monitor.history().back(), 0, values_of(s->buffers.at("exp_avg")),
                       values_of(s->buffers.at("exp_avg_sq")), values_of(w.grad()), 0.999, 1e-3, 3);
  CHECK(internal(monitor, monitor.history().back(), 0, "adam.sqrt_v_hat_p1") == 0.0);
  CHECK(internal(monitor, monitor.history().back(), 0, "adam.eps_share") > 500.0 / 24000);  // the zeros, and some more
}

TEST_CASE("internals: the monitor reads, never writes: parameters are identical with and without it") {
  auto run = [](auto make, bool monitored) {
    Small small;
    auto opt = make(small.layer.parameters());
    Monitor monitor(opt, small.layer.named_parameters(), {.every = 2, .internals = true});
    train_small(small, opt, monitored ? &monitor : nullptr, 7);
    return values_of(small.layer.weight);
  };
  CHECK(run([](auto p) { return AdamW(p, {.learning_rate = 0.01}); }, true) ==
        run([](auto p) { return AdamW(p, {.learning_rate = 0.01}); }, false));
  CHECK(run([](auto p) { return Lion(p, {.learning_rate = 0.01}); }, true) ==
        run([](auto p) { return Lion(p, {.learning_rate = 0.01}); }, false));
  CHECK(run([](auto p) { return Adafactor(p, {.learning_rate = 0.01}); }, true) ==
        run([](auto p) { return Adafactor(p, {.learning_rate = 0.01}); }, false));
}

TEST_CASE("internals: off by default, no columns for an optimizer without them") {
  Small small;
  Adam adam(small.layer.parameters());
  Monitor plain(adam, small.layer.named_parameters());
  train_small(small, adam, &plain, 1);
  CHECK(plain.internals_names().empty());
  CHECK(plain.history().back().params[0].internals.empty());
  SGD sgd(small.layer.parameters(), {.learning_rate = 0.1});
  Monitor with_sgd(sgd, small.layer.named_parameters(), {.internals = true});
  CHECK(with_sgd.internals_names().empty());
}

TEST_CASE("internals: NAdam, RAdam, schedule-free AdamW, Adamax, 8-bit Adam and LAMB record theirs") {
  Small small;
  {
    Lamb lamb(small.layer.parameters(), {.learning_rate = 0.01, .weight_decay = 0.01});
    Monitor monitor(lamb, small.layer.named_parameters(), {.internals = true});
    train_small(small, lamb, &monitor, 3);
    const std::vector<Tensor> params = lamb.all_params();
    for (size_t i = 0; i < params.size(); ++i) {
      CHECK(internal(monitor, monitor.history().back(), i, "lamb.trust_ratio") == lamb.trust_ratio(params[i]));
      const ParamState* s = lamb.state(params[i]);
      check_adam_internals(monitor, monitor.history().back(), i, values_of(s->buffers.at("exp_avg")),
                           values_of(s->buffers.at("exp_avg_sq")), values_of(params[i].grad()), 0.999, 1e-6, 3);
    }
  }
  {
    AdamWScheduleFree sf(small.layer.parameters(), {.learning_rate = 0.01});
    Monitor monitor(sf, small.layer.named_parameters(), {.internals = true});
    train_small(small, sf, &monitor, 2);
    CHECK(std::isnan(internal(monitor, monitor.history().back(), 0, "adam.m_norm")));  // it keeps no m
    CHECK(internal(monitor, monitor.history().back(), 0, "adam.sqrt_v_hat_p50") > 0.0);
  }
  {
    Adamax adamax(small.layer.parameters(), {.learning_rate = 0.01});
    Monitor monitor(adamax, small.layer.named_parameters(), {.internals = true});
    train_small(small, adamax, &monitor, 2);
    std::vector<double> u = values_of(adamax.state(adamax.all_params()[0])->buffers.at("exp_inf"));
    CHECK(internal(monitor, monitor.history().back(), 0, "adam.sqrt_v_hat_p99") == doctest::Approx(nearest_rank(u, 0.99)));
  }
  {
    // A 64 x 128 weight (8192 elements, over min_8bit_size): its state is 8-bit, read dequantized.
    Generator gen{3};
    Tensor w = randn({64, 128}, gen);
    w.requires_grad_();
    AdamW8bit adam8(std::vector<Tensor>{w}, {.learning_rate = 0.01});
    Monitor monitor(adam8, {{"w", w}}, {.internals = true});
    for (int64_t step = 1; step <= 2; ++step) {
      w.set_grad(randn({64, 128}, gen));
      monitor.before_step();
      adam8.step();
      monitor.record(step, 1.0);
    }
    REQUIRE(adam8.is_8bit(w));
    std::vector<double> m = values_of(adam8.moment(w, "exp_avg"));
    double m2 = 0;
    for (double x : m) m2 += x * x;
    CHECK(internal(monitor, monitor.history().back(), 0, "adam.m_norm") == doctest::Approx(std::sqrt(m2)).epsilon(1e-6));
  }
  for (int radam = 0; radam < 2; ++radam) {
    Small fresh;
    std::unique_ptr<Optimizer> opt;
    if (radam) opt = std::make_unique<RAdam>(fresh.layer.parameters(), RadamOptions{.learning_rate = 0.01});
    else opt = std::make_unique<NAdam>(fresh.layer.parameters(), NadamOptions{.learning_rate = 0.01});
    Monitor monitor(*opt, fresh.layer.named_parameters(), {.internals = true});
    train_small(fresh, *opt, &monitor, 3);
    const Tensor p = opt->all_params()[0];
    CHECK(std::abs(internal(monitor, monitor.history().back(), 0, "adam.cos_m_g")) <= 1.0);
    double m2 = 0;
    for (double x : values_of(opt->state(p)->buffers.at("exp_avg"))) m2 += x * x;
    CHECK(internal(monitor, monitor.history().back(), 0, "adam.m_norm") == doctest::Approx(std::sqrt(m2)));
  }
}

TEST_CASE("internals: Adafactor's factor ranges and update clip factor match a direct computation") {
  Small small;
  Adafactor adafactor(small.layer.parameters(), {.learning_rate = 0.01});
  Monitor monitor(adafactor, small.layer.named_parameters(), {.internals = true});
  train_small(small, adafactor, &monitor, 4);
  small.scale = 10.0f;  // a sudden large gradient: RMS(U) > d, the update is clipped
  train_small(small, adafactor, &monitor, 5, 5);
  const Record& r = monitor.history().back();
  const Tensor& w = small.layer.weight;  // 3 x 4: factored
  const ParamState* s = adafactor.state(w);
  std::vector<double> R = values_of(s->buffers.at("row_var")), C = values_of(s->buffers.at("col_var"));
  std::vector<double> G = values_of(w.grad());
  CHECK(internal(monitor, r, 0, "adafactor.row_min") == *std::min_element(R.begin(), R.end()));
  CHECK(internal(monitor, r, 0, "adafactor.row_max") == *std::max_element(R.begin(), R.end()));
  CHECK(internal(monitor, r, 0, "adafactor.col_min") == *std::min_element(C.begin(), C.end()));
  CHECK(internal(monitor, r, 0, "adafactor.col_max") == *std::max_element(C.begin(), C.end()));
  // V̂_ij = R_i C_j / mean(R) (PyTorch's form: mean(R) and V̂ floored at ε1, ε1²), U = G / √V̂.
  const double eps1 = 1.1920928955078125e-07;
  double r_mean = (R[0] + R[1] + R[2]) / 3, sum_u2 = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      double v_hat = std::max(R[i] * C[j] / std::max(r_mean, eps1), eps1 * eps1);
      sum_u2 += G[i * 4 + j] * G[i * 4 + j] / v_hat;
    }
  double clip = std::max(1.0, std::sqrt(sum_u2 / 12) / 1.0);
  CHECK(internal(monitor, r, 0, "adafactor.clip") == doctest::Approx(clip).epsilon(1e-5));
  CHECK(clip > 1.0);  // the problem clips, so the test tells clipping from none
  CHECK(std::isnan(internal(monitor, r, 1, "adafactor.row_min")));  // the bias: a vector, not factored
  CHECK(internal(monitor, r, 1, "adafactor.clip") >= 1.0);
}

TEST_CASE("internals: Lion's sign flips between steps match the signs of consecutive updates") {
  for (int64_t every : {1, 3}) {
    CAPTURE(every);
    Small small;
    Lion lion(small.layer.parameters(), {.learning_rate = 0.01});  // no decay: Δθ = −η sign(c)
    Monitor monitor(lion, small.layer.named_parameters(), {.every = every, .internals = true});
    std::vector<double> before = values_of(small.layer.weight), previous_delta;
    for (int64_t step = 1; step <= 6; ++step) {
      lion.zero_grad();
      float loss = small.forward_backward();
      monitor.before_step();
      lion.step();
      const Record* r = monitor.record(step, loss);
      std::vector<double> after = values_of(small.layer.weight), delta(after.size());
      for (size_t k = 0; k < after.size(); ++k) delta[k] = after[k] - before[k];
      if (r) {
        double flips = internal(monitor, *r, 0, "lion.sign_flips");
        CAPTURE(step);
        if (step == 1) {
          CHECK(std::isnan(flips));  // no step before the first
        } else {
          int differ = 0;
          for (size_t k = 0; k < delta.size(); ++k) differ += (delta[k] > 0) != (previous_delta[k] > 0);
          CHECK(flips == doctest::Approx(differ / 12.0));
        }
      }
      previous_delta = delta, before = after;
    }
  }
}
