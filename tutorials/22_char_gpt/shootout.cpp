// Tutorial 22, part 2 — the optimizer shoot-out on the GPT: eleven optimizers train the same model through
// the same loop (gpt.hpp's Trainer), each after the same small learning-rate sweep.
//
// For every optimizer:
//   1. the sweep: three short runs at lr/3, lr and 3·lr (lr: the optimizer's usual rate for a model of
//      this size, stated in the table), each with the recipe's warmup and cosine compressed to the short
//      run; the validation loss at its end picks the learning rate;
//   2. the final run at that rate, the recipe's length, with a Monitor recording every 10th step (the
//      update/parameter ratio of every tensor, the loss z-score of every step): its validation loss,
//      the optimizer state it keeps (measured: state_bytes_total), its time per iteration, and its
//      stability (loss spikes, non-finite losses).
// Every optimizer starts from the same initial weights and sees the same batches (Generator(recipe.seed)).
//
// The default run is a tiny GPT (2 layers, width 32, context 16) for seconds, checked by the tests against
// the README's "## Output (shoot-out)" block. --full runs the recipe's model (4 layers, width 128, context
// 64): sweeps of 500 iterations and final runs of 2000 (about 50 minutes on 2 cores; the README's
// "## Output (shoot-out, --full)" block, checked by the benchmark suite tutorials-full).
//
// Build and run:  meson compile -C build && ./build/tutorials/22_char_gpt_shootout [--full] [--out DIR] [--data DIR]
//   --out DIR   where the charts and the CSV logs go (default: the current directory)
//   --only NAME run one optimizer (as the table names it)
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gpt.hpp"
#include "plots.hpp"
#include "shootout.hpp"

using namespace moments;
using gpt::Contender;

namespace {

// The validation loss of the model as the optimizer would hand it over: schedule-free AdamW's x, not y.
double validation_loss(gpt::Trainer& trainer, const std::vector<TokenBatch>& windows) {
  auto* sf = dynamic_cast<AdamWScheduleFree*>(trainer.optimizer.get());
  if (sf) sf->eval();
  double loss = gpt::mean_loss(trainer.model, windows);
  if (sf) sf->train();
  return loss;
}

struct Run {
  double lr = 0, val = 0;
  std::vector<double> curve_x, curve_y;  // validation loss during the run
  int64_t state_bytes = 0, parameters = 0;
  int64_t spikes = 0, nonfinite = 0;
};

// A model with its trainer: the initial weights of Generator(1337), the contender's optimizer at `lr` on
// a schedule of `iters` iterations and, for Sophia-G, its Gauss–Newton–Bartlett estimate every 10
// iterations (tutorial 19): the gradient of the loss on labels drawn from the model's own softmax, on this
// iteration's inputs. Not movable (the trainer holds the model).
struct Session {
  Session(const Contender& c, const gpt::Config& config, const CharCorpus& text, double lr, int64_t iters)
      : init(1337), model(config, init),
        trainer(model, text, gpt::recipe_for(c, lr, iters), [&](const gpt::Gpt& m, const gpt::Recipe&) { return c.make(m, lr); }) {
    if (auto* sophia = dynamic_cast<SophiaG*>(trainer.optimizer.get()))
      trainer.after_update = [sophia, this](gpt::Trainer& t, const TokenBatch& batch) {
        if ((t.iteration + 1) % 10 != 0) return;
        sophia->zero_grad();
        Tensor z = reshape(t.model.logits(batch.inputs, batch.batch, batch.block),
                           {batch.batch * batch.block, t.model.config.vocab_size});
        cross_entropy(z, sample_labels(z, labels)).backward();
        sophia->update_hessian();
      };
  }
  Session(const Session&) = delete;
  Generator init, labels{18};
  gpt::Gpt model;
  gpt::Trainer trainer;
};

// One run of `iters` iterations, the validation loss every `every`; with a CSV path, monitored (every 10th
// step recorded, the loss z-score of every step).
Run train(const Contender& c, const gpt::Config& config, const CharCorpus& text, double lr, int64_t iters,
          int64_t every, const std::vector<TokenBatch>& windows, const std::string& csv_path) {
  Session session(c, config, text, lr, iters);
  gpt::Trainer& trainer = session.trainer;
  std::unique_ptr<Monitor> monitor;
  if (!csv_path.empty()) {
    monitor = std::make_unique<Monitor>(*trainer.optimizer, session.model.named_parameters(),
                                        MonitorOptions{.every = 10, .csv_path = csv_path,
                                                       .log_mode = LogMode::overwrite, .time_steps = false});
    trainer.monitor = monitor.get();
  }
  Run run;
  run.lr = lr;
  for (int64_t it = 1; it <= iters; ++it) {
    float loss = trainer.step();
    if (!std::isfinite(loss)) ++run.nonfinite;
    if (it % every == 0 || it == iters) {
      run.curve_x.push_back(static_cast<double>(it));
      run.curve_y.push_back(validation_loss(trainer, windows));
    }
  }
  run.val = run.curve_y.back();
  run.state_bytes = trainer.optimizer->state_bytes_total();
  for (const Tensor& p : session.model.parameters()) run.parameters += p.numel();
  if (monitor)
    for (const std::string& w : monitor->warnings()) run.spikes += w.find("z-score") != std::string::npos;
  return run;
}

// Milliseconds per iteration of each contender's loop, measured in turns so that the machine's load falls
// on all alike: `rounds` rounds in which every contender runs `block` iterations (after `block` untimed
// ones that allocate its state), the median of each one's iteration times.
std::vector<double> ms_per_iteration(const std::vector<const Contender*>& cs, const std::vector<double>& lrs,
                                     const gpt::Config& config, const CharCorpus& text, int rounds, int block) {
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::vector<double>> times(cs.size());
  for (size_t i = 0; i < cs.size(); ++i) {
    sessions.push_back(std::make_unique<Session>(*cs[i], config, text, lrs[i], (rounds + 1) * block));
    for (int k = 0; k < block; ++k) sessions[i]->trainer.step();
  }
  for (int round = 0; round < rounds; ++round)
    for (size_t i = 0; i < cs.size(); ++i)
      for (int k = 0; k < block; ++k) {
        auto start = std::chrono::steady_clock::now();
        sessions[i]->trainer.step();
        times[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
  std::vector<double> out;
  for (std::vector<double>& t : times) {
    std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
    out.push_back(t[t.size() / 2]);
  }
  return out;
}

// "Muon + AdamW" → "Muon_AdamW": letters and digits, one '_' for each run of anything else.
std::string file_name(const std::string& name) {
  std::string out;
  for (char ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch))) out += ch;
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = MOMENTS_DATA_DIR, out_dir = ".", only;
  bool full = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) full = true;
    else if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) data_dir = argv[++i];
    else if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) out_dir = argv[++i];
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "usage: 22_char_gpt_shootout [--full] [--out DIR] [--data DIR] [--only NAME]\n");
      return 2;
    }
  }
  CharCorpus text = load_char_corpus(data_dir + "/tinyshakespeare.txt");
  const gpt::Config config = full ? gpt::Config{.vocab_size = text.vocab_size()}
                                  : gpt::Config{.vocab_size = text.vocab_size(), .block_size = 16, .n_layer = 2,
                                                .n_head = 2, .n_embd = 32};
  const int64_t sweep_iters = full ? 500 : 20, final_iters = full ? 2000 : 60, every = full ? 250 : 20;
  const int timed_block = full ? 10 : 5;  // iterations per turn in the timing (section 3)
  const std::vector<TokenBatch> windows = gpt::fixed_windows(text.validation, full ? 20 : 4, 12, config.block_size, 2000);
  {
    Generator init(1337);
    gpt::Gpt model(config, init);
    std::printf("The GPT: %lld layers, %lld heads, width %lld, context %lld: %lld parameters (%lld without wpe)\n",
                static_cast<long long>(config.n_layer), static_cast<long long>(config.n_head),
                static_cast<long long>(config.n_embd), static_cast<long long>(config.block_size),
                static_cast<long long>(model.non_embedding_parameter_count() + model.wpe.numel()),
                static_cast<long long>(model.non_embedding_parameter_count()));
  }
  std::printf("Batch 12; sweeps of %lld iterations at lr/3, lr, 3 lr, final runs of %lld at the best;\n"
              "validation: the mean loss over %zu fixed batches of 12 windows, every %lld iterations\n\n",
              static_cast<long long>(sweep_iters), static_cast<long long>(final_iters), windows.size(),
              static_cast<long long>(every));

  // ---- 1. The sweep ----
  std::printf("1. The sweep: validation loss after %lld iterations\n", static_cast<long long>(sweep_iters));
  std::printf("%-13s %9s %9s %9s %9s   %s\n", "optimizer", "lr", "lr/3", "lr", "3 lr", "");
  std::vector<const Contender*> ran;
  std::vector<double> best_lr;
  for (const Contender& c : gpt::contenders()) {
    if (!only.empty() && c.name != only) continue;
    double best = 0, best_val = INFINITY;
    std::printf("%-13s %9.2g", c.name.c_str(), c.lr);
    for (double factor : {1.0 / 3.0, 1.0, 3.0}) {
      Run r = train(c, config, text, c.lr * factor, sweep_iters, sweep_iters, windows, "");
      std::printf(" %9.4f", r.val);
      std::fflush(stdout);
      if (r.val < best_val) best_val = r.val, best = c.lr * factor;  // a NaN never wins
    }
    std::printf("   %s\n", c.note.c_str());
    ran.push_back(&c);
    best_lr.push_back(best);
  }

  // ---- 2. The final runs ----
  std::printf("\n2. The final runs: %lld iterations at the best learning rate of the sweep\n", static_cast<long long>(final_iters));
  std::printf("%-13s %9s %9s %11s %9s %7s %9s\n", "optimizer", "lr", "val loss", "state", "B/param", "spikes", "non-fin.");
  std::vector<Run> finals;
  plots::LineChart curves({.title = "Validation loss of the final runs", .x_label = "iteration", .y_label = "loss"});
  std::vector<std::string> names;
  std::vector<double> bytes_per_param;
  for (size_t i = 0; i < ran.size(); ++i) {
    const std::string csv = out_dir + "/shootout_gpt_" + file_name(ran[i]->name) + ".csv";
    Run r = train(*ran[i], config, text, best_lr[i], final_iters, every, windows, csv);
    const double per_param = static_cast<double>(r.state_bytes) / static_cast<double>(r.parameters);
    std::printf("%-13s %9.2g %9.4f %11lld %9.2f %7lld %9lld\n", ran[i]->name.c_str(), r.lr, r.val,
                static_cast<long long>(r.state_bytes), per_param, static_cast<long long>(r.spikes),
                static_cast<long long>(r.nonfinite));
    std::fflush(stdout);
    curves.add_series({.name = ran[i]->name, .x = r.curve_x, .y = r.curve_y, .markers = true});
    names.push_back(ran[i]->name);
    bytes_per_param.push_back(per_param);
    plots::heatmap_from_log(plots::read_csv(csv), "update_ratio.*",
                            {.title = ran[i]->name + ": update / parameter ratio per tensor", .z_label = "|dtheta| / |theta|"})
        .save_png(out_dir + "/shootout_gpt_heatmap_" + file_name(ran[i]->name) + ".png");
    finals.push_back(r);
  }
  std::printf("(state: bytes of optimizer state, measured; B/param: per parameter; spikes: steps whose loss has an\n"
              " llm.c z-score above 7 over the last 128; non-fin.: steps with a non-finite loss)\n");

  // ---- 3. Time per iteration ----
  // The median, not the mean: Sophia-G's Hessian and SOAP's eigenbasis iterations are the slow tenth.
  std::vector<double> ms = ms_per_iteration(ran, best_lr, config, text, 3, timed_block);
  std::printf("\n3. Time per iteration (every optimizer in turn: 3 rounds of %d iterations each, the median)\n", timed_block);
  std::printf("%-13s %14s %10s\n", "optimizer", "", "vs AdamW");
  for (size_t i = 0; i < ran.size(); ++i)
    std::printf("%-13s %7.1f ms/iter %8.2f x\n", ran[i]->name.c_str(), ms[i], ms[i] / ms[0]);

  // ---- 4. What wins ----
  auto best_of = [&](auto key) {
    return static_cast<size_t>(std::min_element(finals.begin(), finals.end(), [&](const Run& a, const Run& b) {
                                 return key(a) < key(b);
                               }) - finals.begin());
  };
  if (!finals.empty()) {
    size_t by_loss = best_of([](const Run& r) { return std::isnan(r.val) ? INFINITY : r.val; });
    size_t by_bytes = best_of([](const Run& r) { return static_cast<double>(r.state_bytes); });
    std::printf("\n4. Lowest validation loss: %s (%.4f); least state: %s (%.2f bytes per parameter)\n",
                names[by_loss].c_str(), finals[by_loss].val, names[by_bytes].c_str(), bytes_per_param[by_bytes]);
  }

  curves.save_png(out_dir + "/shootout_gpt_loss.png");
  plots::BarChart memory({.title = "Optimizer state per parameter (bytes, measured)"});
  memory.set_categories(names).add_series("bytes per parameter", bytes_per_param);
  memory.save_png(out_dir + "/shootout_gpt_memory.png");
  std::printf("wrote shootout_gpt_loss.png, shootout_gpt_memory.png, %zu heat maps and %zu CSV logs\n", names.size(),
              names.size());
  return 0;
}
