// Tutorial 14 — Save and resume: a checkpoint after which a stopped run goes on
// exactly as if it had never stopped.
//
// Trains a 64-32-10 MLP on the UCI digits with AdamW and a warmup-cosine
// schedule three times:
//   A  80 steps straight through;
//   B  40 steps, save_checkpoint, throw everything away, rebuild the model from
//      another seed, load_checkpoint, 40 more steps;
//   C  like B, but restoring only the model's weights (a fresh optimizer and schedule).
// B must match A bit for bit, in every loss and every weight; C shows why the
// optimizer's state and the schedule's step belong in the checkpoint.
//
// Build and run:  meson compile -C build && ./build/tutorials/14_save_and_resume [--out DIR]
//   --out DIR       where save_resume.png goes (default: the current directory)
//   --keep FILE     also keep a copy of the checkpoint as FILE (to read it from Python or moments-inspect)
//   --no-schedule   only: load B's checkpoint without a schedule, and see it refused   (see Try this)
//   --narrow        only: load it into a model with 16 hidden units instead of 32
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t total_steps = 80, stop_step = 40, batch = 50;

// Everything a run holds. `seed` sets the initial weights only.
struct Training {
  Generator gen;
  MLP model;
  AdamW adamw;
  LrScheduler schedule;
  explicit Training(uint64_t seed, int64_t hidden = 32)
      : gen(seed),
        model({64, hidden, 10}, gen),
        adamw(model.parameters(), {.learning_rate = 1e-2, .weight_decay = 0.1}),
        schedule(adamw, warmup_cosine(/*warmup_steps=*/10, total_steps, /*min_factor=*/0.1)) {}

  // Steps [from, to) of the run; step t trains on images [50 t, 50 t + 50) of the training set.
  void train(const Dataset& data, int64_t from, int64_t to, std::vector<float>& losses) {
    for (int64_t t = from; t < to; ++t) {
      int64_t begin = (t * batch) % data.size();
      adamw.zero_grad();
      Tensor loss = cross_entropy(model.forward(rows(data.inputs, begin, begin + batch)),
                                  labels_of(data, begin, begin + batch));  // forward
      loss.backward();                                                   // backward
      adamw.step();                                                      // update
      schedule.step();
      losses.push_back(loss.item());
    }
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::bit_cast<uint32_t>(x[i]) != std::bit_cast<uint32_t>(y[i])) return false;
  return true;
}

// Try this: B's checkpoint loaded the wrong way, and the loader's refusal.
int refused_load(const Dataset& train_set, bool without_schedule) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            (without_schedule ? "moments_tutorial_14_no_schedule.safetensors" : "moments_tutorial_14_narrow.safetensors"))
                               .string();
  std::vector<float> losses;
  Training first(/*seed=*/0);
  first.train(train_set, 0, stop_step, losses);
  save_checkpoint(path, first.model, first.adamw, &first.schedule, {.step = stop_step});
  Training b(/*seed=*/1, without_schedule ? 32 : 16);
  std::printf("B's checkpoint after step %lld, loaded %s:\n", static_cast<long long>(stop_step),
              without_schedule ? "without its schedule (nullptr)" : "into a 64-16-10 model");
  try {
    load_checkpoint(path, b.model, b.adamw, without_schedule ? nullptr : &b.schedule);
    std::printf("  loaded\n");
  } catch (const Error& e) {
    std::string message = e.what();  // the file's name without its folder ($TMPDIR differs between machines)
    size_t at = message.find(path);
    if (at != std::string::npos) message.replace(at, path.size(), std::filesystem::path(path).filename().string());
    std::printf("  refused: %s\n", message.c_str());
  }
  std::filesystem::remove(path);
  return 0;
}

int main(int argc, char** argv) {
  std::string out_dir = ".", keep;
  const bool refused = argc == 2 && (std::strcmp(argv[1], "--no-schedule") == 0 || std::strcmp(argv[1], "--narrow") == 0);
  for (int i = 1; i < argc && !refused; i += 2) {
    if (i + 1 == argc || (std::strcmp(argv[i], "--keep") != 0 && std::strcmp(argv[i], "--out") != 0)) {
      std::fprintf(stderr, "usage: 14_save_and_resume [--out DIR] [--keep FILE] | --no-schedule | --narrow\n");
      return 2;
    }
    (std::strcmp(argv[i], "--keep") == 0 ? keep : out_dir) = argv[i + 1];
  }
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  if (refused) return refused_load(train_set, /*without_schedule=*/std::strcmp(argv[1], "--no-schedule") == 0);
  const std::string path = (std::filesystem::temp_directory_path() / "moments_tutorial_14.safetensors").string();
  std::printf("A 64-32-10 MLP on the UCI digits: AdamW (lr 1e-2, weight decay 0.1), warmup-cosine schedule,\n");
  std::printf("%lld steps of %lld images.\n\n", static_cast<long long>(total_steps), static_cast<long long>(batch));

  // A: straight through.
  Training a(/*seed=*/0);
  std::vector<float> losses_a;
  a.train(train_set, 0, total_steps, losses_a);

  // B: stop, save, forget, rebuild, load, go on.
  std::vector<float> losses_b;
  {
    Training first(/*seed=*/0);
    first.train(train_set, 0, stop_step, losses_b);
    save_checkpoint(path, first.model, first.adamw, &first.schedule, {.step = stop_step});
    if (!keep.empty())  // the same checkpoint, saved as atomically (a FILE that existed survives a failure)
      save_checkpoint(keep, first.model, first.adamw, &first.schedule, {.step = stop_step});
  }  // the first half's model, optimizer and schedule are gone
  Training b(/*seed=*/1);  // other initial weights: the load must replace them all
  CheckpointInfo info = load_checkpoint(path, b.model, b.adamw, &b.schedule);
  b.train(train_set, info.step, total_steps, losses_b);

  // C: the weights only, read with the plain safetensors load().
  std::vector<float> losses_c(losses_b.begin(), losses_b.begin() + stop_step);
  Training c(/*seed=*/1);
  SafetensorsFile file = load(path);
  for (auto& [name, param] : c.model.named_parameters()) {
    const Tensor& saved = file.get("model." + name);
    std::copy(saved.data(), saved.data() + saved.numel(), param.data());
  }
  c.train(train_set, stop_step, total_steps, losses_c);

  std::printf("The checkpoint after step %lld (%lld bytes):\n", static_cast<long long>(stop_step),
              static_cast<long long>(std::filesystem::file_size(path)));
  for (const auto& [name, tensor] : file.tensors) std::printf("  %-24s %s\n", name.c_str(), shape_str(tensor.shape()).c_str());
  for (const auto& [key, value] : file.metadata) {
    std::string shown = value.size() > 60 ? value.substr(0, 57) + "..." : value;
    std::printf("  __metadata__ %-28s %s\n", key.c_str(), shown.c_str());
  }

  std::printf("\n step     A: straight   B: resumed   C: weights only\n");
  for (int64_t t : {1, 10, 20, 30, 40, 41, 42, 45, 50, 60, 70, 80}) {
    size_t i = static_cast<size_t>(t - 1);
    std::printf("%5lld %15.6f %12.6f %17.6f%s\n", static_cast<long long>(t), losses_a[i], losses_b[i], losses_c[i],
                t == stop_step ? "   <- saved here" : "");
  }

  int same_losses = 0, same_params = 0, same_buffers = 0, buffers = 0;
  for (size_t i = 0; i < losses_a.size(); ++i) same_losses += std::bit_cast<uint32_t>(losses_a[i]) == std::bit_cast<uint32_t>(losses_b[i]);
  std::vector<Tensor> params_a = a.model.parameters(), params_b = b.model.parameters();
  for (size_t p = 0; p < params_a.size(); ++p) {
    same_params += same_bits(params_a[p], params_b[p]);
    for (const auto& [buffer, tensor] : a.adamw.state(params_a[p])->buffers) {
      ++buffers;
      same_buffers += same_bits(tensor, b.adamw.state(params_b[p])->buffers.at(buffer));
    }
  }
  std::printf("\nB against A, bit for bit: %d of %zu losses, %d of %zu parameters, %d of %d optimizer buffers the same;\n",
              same_losses, losses_a.size(), same_params, params_a.size(), same_buffers, buffers);
  std::printf("learning rate now A %.6g, B %.6g (schedules at step %lld and %lld).\n", a.adamw.learning_rate(0), b.adamw.learning_rate(0),
              static_cast<long long>(a.schedule.last_step()), static_cast<long long>(b.schedule.last_step()));

  NoGradGuard eval;
  std::printf("Held-out accuracy after %lld steps: A %.4f, B %.4f, C %.4f\n", static_cast<long long>(total_steps),
              accuracy(a.model.forward(test_set.inputs), test_set.labels),
              accuracy(b.model.forward(test_set.inputs), test_set.labels),
              accuracy(c.model.forward(test_set.inputs), test_set.labels));
  std::filesystem::remove(path);

  std::vector<double> steps, a_loss(losses_a.begin(), losses_a.end()), b_loss(losses_b.begin(), losses_b.end()),
      c_loss(losses_c.begin(), losses_c.end());
  for (int64_t t = 1; t <= total_steps; ++t) steps.push_back(static_cast<double>(t));
  plots::LineChart chart({.title = "Minibatch loss: B (resumed) lies exactly on A; C leaves at step 42",
                          .y_label = "loss", .y_scale = plots::Scale::log});
  chart.add_series("A: straight", steps, a_loss).add_series("B: resumed", steps, b_loss);
  chart.add_series("C: weights only", steps, c_loss);
  chart.save_png(out_dir + "/save_resume.png");
  std::printf("wrote save_resume.png\n");
  return 0;
}
