// Suite `monitor`: gradient clipping through the monitor, llm.c's loss z-score, the
// opt-in skip of a spiking step, and a monitor that survives a resume from a
// checkpoint (its log and state the same as a run that never stopped).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checkpoint.hpp"
#include "temp_files.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_error;
using testing::fresh_path;
using testing::read_file;

namespace {

// The CSV's column `name`, one value per row (as text).
std::vector<std::string> csv_column(const std::string& path, const std::string& name) {
  std::ifstream in(path);
  std::string line, cell;
  std::getline(in, line);
  std::vector<std::string> header;
  for (std::istringstream cells(line); std::getline(cells, cell, ',');) header.push_back(cell);
  size_t index = static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  REQUIRE(index < header.size());
  std::vector<std::string> values;
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    for (size_t i = 0; i <= index; ++i) std::getline(cells, cell, ',');
    values.push_back(cell);
  }
  return values;
}

// llm.c's z-score by hand: `loss` against the last `window` values of `seen`, itself included.
double direct_z(const std::vector<double>& seen, size_t window) {
  double mean = 0, var = 0;
  for (size_t i = seen.size() - window; i < seen.size(); ++i) mean += seen[i] / static_cast<double>(window);
  for (size_t i = seen.size() - window; i < seen.size(); ++i) var += (seen[i] - mean) * (seen[i] - mean);
  return (seen.back() - mean) / std::sqrt(var / static_cast<double>(window));
}

// A 4 → 2 linear regression trained with Adam on batches fixed by the step number,
// clipping through the monitor; the batch of `bad_step` has its inputs scaled ×1000.
struct Run {
  Generator gen;
  Linear layer;
  Adam adam;
  Monitor monitor;
  Run(uint64_t seed, const MonitorOptions& options)
      : gen(seed), layer(4, 2, gen), adam(layer.parameters(), {.learning_rate = 0.05}),
        monitor(adam, layer.named_parameters(), options) {}
  const Record* step(int64_t t, int64_t bad_step) {
    Generator data(static_cast<uint64_t>(t));
    Tensor x = randn({8, 4}, data), y = randn({8, 2}, data);
    if (t == bad_step) x = mul(x, 1000.0f);
    adam.zero_grad();
    Tensor loss = mse_loss(layer.forward(x), y);  // forward
    loss.backward();                              // backward
    monitor.clip_grad_norm(1.0);
    if (!monitor.should_skip(t, loss.item())) {
      monitor.before_step();
      adam.step();                                // update
    }
    return monitor.record(t, loss.item());
  }
};

std::vector<float> values(const Module& model) {
  std::vector<float> all;
  for (const Tensor& p : model.parameters()) all.insert(all.end(), p.data(), p.data() + p.numel());
  return all;
}

}  // namespace

TEST_CASE("loss_z is llm.c's z-score over the window, the new loss included; non-finite losses stay out") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p}, {.learning_rate = 0.0});
  Monitor monitor(sgd, {}, {.every = 3, .loss_z_window = 8, .loss_z_threshold = 2.5});
  std::vector<double> seen;  // the finite losses so far
  Generator gen(7);
  for (int64_t step = 1; step <= 40; ++step) {
    CAPTURE(step);
    p.set_grad(Tensor::ones({1}));
    double loss = step == 20 ? std::nan("") : 1.0 + gen.uniform();
    if (step == 30) loss = 9.0;
    const Record* r = monitor.record(step, loss);  // every = 3: the window still sees every step
    if (std::isfinite(loss)) seen.push_back(loss);
    if (!r) continue;
    if (!std::isfinite(loss) || seen.size() <= 8) {
      CHECK(std::isnan(r->loss_z));  // the window is not full yet, or the loss is not finite
    } else {
      CHECK(r->loss_z == doctest::Approx(direct_z(seen, 8)).epsilon(1e-12));
      CHECK(r->loss_z_spike == (r->loss_z > 2.5));
    }
    CHECK(r->loss_z_spike == (step == 20 || step == 30));  // NaN, and 9 among losses in [1, 2)
    CHECK_FALSE(r->skipped);  // skip_spikes is off
  }
  CHECK(monitor.warnings().size() == 2);
  CHECK(monitor.warnings()[0].find("step 20: loss nan is not finite") != std::string::npos);
  CHECK(monitor.warnings()[1].find("step 30: loss 9 has z-score") != std::string::npos);
}

TEST_CASE("skip_spikes: a huge loss is flagged, not applied to the parameters, and the log says so") {
  std::string path = fresh_path("moments_monitor_skip.csv");
  const int64_t bad = 45;
  for (bool skip : {true, false}) {
    CAPTURE(skip);
    Run run(0, {.csv_path = skip ? path : "", .time_steps = false, .loss_z_window = 32, .loss_z_threshold = 5.0,
                .skip_spikes = skip});
    for (int64_t t = 1; t < bad; ++t) CHECK_FALSE(run.step(t, bad)->skipped);
    std::vector<float> before = values(run.layer);
    const Record* r = run.step(bad, bad);
    CHECK(r->loss_z > 5.0);
    CHECK(r->loss_z <= std::sqrt(31.0));  // one value in a window of 32, itself included, reaches at most √31
    CHECK(r->loss_z_spike);
    CHECK(r->skipped == skip);
    CHECK((values(run.layer) == before) == skip);  // θ unchanged exactly when skipped
    CHECK(std::isnan(r->update_norm) == skip);      // no before_step() on a skipped step
    std::string line;  // the z-score's line (today's spike rule adds its own after it)
    for (const std::string& w : run.monitor.warnings())
      if (w.find("step 45: loss") == 0 && w.find("z-score") != std::string::npos) line = w;
    CHECK_MESSAGE(!line.empty(), "no warning for step 45's z-score");
    CHECK((line.find("the step is not applied") != std::string::npos) == skip);
    for (int64_t t = bad + 1; t <= bad + 5; ++t) CHECK_FALSE(run.step(t, bad)->loss_z_spike);
  }
  std::vector<std::string> skipped = csv_column(path, "skipped"), spikes = csv_column(path, "loss_z_spike");
  REQUIRE(skipped.size() == 50);
  for (size_t i = 0; i < skipped.size(); ++i) {
    CHECK(skipped[i] == (i + 1 == bad ? "1" : "0"));
    CHECK(spikes[i] == skipped[i]);
  }
  std::filesystem::remove(path);
}

TEST_CASE("clip_grad_norm: the norms before and after clipping are the ones computed directly") {
  std::string path = fresh_path("moments_monitor_clip.csv");
  Generator gen(3);
  Linear layer(4, 2, gen);
  Adam adam(layer.parameters());
  Monitor monitor(adam, layer.named_parameters(), {.csv_path = path, .time_steps = false});
  auto direct_norm = [&] {
    double sum = 0;
    for (const Tensor& p : layer.parameters())
      for (float g : p.grad().to_vector()) sum += static_cast<double>(g) * g;
    return std::sqrt(sum);
  };
  std::vector<double> before_clip;
  for (int64_t step = 1; step <= 3; ++step) {
    CAPTURE(step);
    Generator data(static_cast<uint64_t>(step));
    adam.zero_grad();
    Tensor loss = mse_loss(layer.forward(mul(randn({8, 4}, data), 10.0f)), randn({8, 2}, data));
    loss.backward();
    double expected_before = direct_norm();
    double returned = step == 2 ? std::nan("") : monitor.clip_grad_norm(0.5);  // step 2 does not clip
    double expected_after = direct_norm();
    monitor.before_step();
    adam.step();
    const Record* r = monitor.record(step, loss.item());
    CHECK(r->grad_norm == doctest::Approx(expected_after).epsilon(1e-6));  // after: the gradients Adam used
    if (step == 2) {
      CHECK(std::isnan(r->grad_norm_before_clip));
      CHECK(expected_after == expected_before);
    } else {
      CHECK(returned == doctest::Approx(expected_before).epsilon(1e-12));
      CHECK(r->grad_norm_before_clip == returned);
      CHECK(expected_before > 0.5);
      CHECK(expected_after == doctest::Approx(0.5).epsilon(1e-5));  // clipped down to max_norm
    }
    before_clip.push_back(r->grad_norm_before_clip);
  }
  std::vector<std::string> column = csv_column(path, "grad_norm_before_clip");
  REQUIRE(column.size() == 3);
  CHECK(std::stod(column[0]) == doctest::Approx(before_clip[0]).epsilon(1e-8));
  CHECK(column[1] == "nan");
  std::filesystem::remove(path);
}

TEST_CASE("bad spike and z-score options throw, naming the field") {
  Tensor p = Tensor::ones({1}).requires_grad_();
  SGD sgd({p});
  check_error([&] { Monitor(sgd, {}, {.loss_z_window = 1}); }, {"Monitor", "loss_z_window 1", ">= 2"});
  check_error([&] { Monitor(sgd, {}, {.loss_z_threshold = 0.0}); }, {"Monitor", "loss_z_threshold 0", "> 0"});
  check_error([&] { Monitor(sgd, {}, {.loss_z_threshold = -1.0}); }, {"Monitor", "loss_z_threshold -1"});
  check_error([&] { Monitor(sgd, {}, {.loss_z_threshold = std::nan("")}); }, {"Monitor", "loss_z_threshold nan"});
  check_error([&] { Monitor(sgd, {}, {.spike_z = std::nan("")}); }, {"Monitor", "spike_z nan"});
  check_error([&] { Monitor(sgd, {}, {.spike_window = 1}); }, {"Monitor", "spike_window 1"});
  // A threshold the z-score can never reach: with the new loss in its own window of N, z <= √(N − 1).
  check_error([&] { Monitor(sgd, {}, {.loss_z_window = 32, .loss_z_threshold = 7.0}); },
              {"Monitor", "loss_z_threshold 7", "loss_z_window 32", "5.57"});
}

TEST_CASE("resumed from a checkpoint, the monitor writes the log and reaches the state of a run that never stopped") {
  const MonitorOptions options{.log_mode = LogMode::append, .time_steps = false, .spike_window = 20,
                               .loss_z_window = 32, .loss_z_threshold = 5.0, .skip_spikes = true};
  const int64_t stop = 30, bad = 45, total = 60;  // the spike comes after the resume
  std::string straight_log = fresh_path("moments_monitor_spikes_straight.csv");
  std::string resumed_log = fresh_path("moments_monitor_spikes_resumed.csv");
  std::string checkpoint = fresh_path("moments_monitor_spikes.safetensors");
  MonitorOptions o = options;
  o.csv_path = straight_log;
  Run straight(0, o);
  for (int64_t t = 1; t <= total; ++t) straight.step(t, bad);
  REQUIRE(straight.monitor.history()[bad - 1].skipped);

  o.csv_path = resumed_log;
  {
    Run first(0, o);
    for (int64_t t = 1; t <= stop; ++t) first.step(t, bad);
    save_checkpoint(checkpoint, first.layer, first.adam, nullptr, {.step = stop, .metadata = {{"monitor", first.monitor.state()}}});
    for (int64_t t = stop + 1; t <= stop + 7; ++t) first.step(t, bad);  // rows after the checkpoint, lost with the process
  }
  Run second(1, o);  // other initial weights: the checkpoint replaces them
  CheckpointInfo info = load_checkpoint(checkpoint, second.layer, second.adam);
  second.monitor.restore(info.metadata);
  for (int64_t t = info.step + 1; t <= total; ++t) second.step(t, bad);
  CHECK(second.monitor.history()[bad - stop - 1].skipped);  // the restored window knows the 30 losses before
  CHECK(second.monitor.state() == straight.monitor.state());
  CHECK(values(second.layer) == values(straight.layer));
  std::string expected = read_file(straight_log), actual = read_file(resumed_log);
  CHECK(std::count(actual.begin(), actual.end(), '\n') == total + 1);  // the header once, one row per step
  CHECK(actual == expected);

  // Without restore() the resumed window starts empty: step 45's spike goes unseen.
  Run fresh(1, {.time_steps = false, .loss_z_window = 32, .loss_z_threshold = 5.0, .skip_spikes = true});
  load_checkpoint(checkpoint, fresh.layer, fresh.adam);
  for (int64_t t = stop + 1; t <= bad; ++t) fresh.step(t, bad);
  CHECK(std::isnan(fresh.monitor.history().back().loss_z));
  CHECK_FALSE(fresh.monitor.history().back().skipped);

  // A checkpoint without monitor state is a clear error; a state from before the z-score still restores.
  Run late(1, options);
  check_error([&] { late.monitor.restore(Metadata{{"run", "a"}}); },
              {"Monitor::restore", "no entry 'monitor'", "run", "monitor.state()"});
  check_error([&] { late.monitor.restore("moments.monitor.v2 last_step=3 ema=1 ema_weight=1 losses=1 z_losses=1,x"); },
              {"Monitor::restore", "'x' is not a number"});
  check_error([&] { late.monitor.restore("moments.monitor.v2 last_step=3 ema=1 ema_weight=1 losses=1"); },
              {"Monitor::restore", "no field z_losses="});
  late.monitor.restore("moments.monitor.v1 last_step=3 ema=0.5 ema_weight=0.5 losses=1,2");
  CHECK(late.monitor.state() == "moments.monitor.v2 last_step=3 ema=0.5 ema_weight=0.5 losses=1,2 z_losses=");
  late.monitor.should_skip(4, 1.0);  // the window has seen a loss: restoring now would lose it
  check_error([&] { late.monitor.restore(straight.monitor.state()); }, {"Monitor::restore", "before the first should_skip()", "step 4"});
  std::filesystem::remove(straight_log);
  std::filesystem::remove(resumed_log);
  std::filesystem::remove(checkpoint);
}
