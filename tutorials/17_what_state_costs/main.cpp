// Tutorial 17 — what state costs: every optimizer's state, measured; what 8 bits lose; what memory buys.
//
// 1. Bytes of optimizer state per parameter, read from the real allocations (Optimizer::state_bytes(), as
//    tutorial 12 does), for every optimizer in lib/optim: on one 4096 × 8192 matrix and on the digits MLP.
// 2. The 8-bit round trip: Adam's m and v after training the MLP, quantized block-wise with bitsandbytes'
//    dynamic maps (lib/optim/quantization.hpp) and dequantized; the relative error of every block.
// 3. The held-out accuracy each optimizer reaches on the MLP: same weights, same batches, same epochs,
//    each optimizer at its usual learning rate.
//
// Build and run:  meson compile -C build && ./build/tutorials/17_what_state_costs [--out DIR]
//   --out DIR  where state_bytes.png, quantization_error.png, accuracy_and_state.png go (default: .)
// Try this (the README's last section): each flag trains only the rows it asks about, on the MLP (no matrix
// column, no charts), beside the row of the table it changes:
//   --min-8bit-size N  the 8-bit optimizers with bitsandbytes' min_8bit_size = N (default 4096), beside Adam
//   --max-dim N        Shampoo with max_preconditioner_dim = N (the table's: 1024)
//   --lion-lr LR       Lion at LR (the table's: 3e-4)
//   --block N          Adam's state quantized in blocks of N (the table's: 256, bitsandbytes' optimizers')
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

using Params = std::vector<Tensor>;
Params tensors(const NamedTensors& named) {
  Params out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

// One row per optimizer: how to build it for training the MLP (its usual learning rate), and what may
// change when it only has to show its state on the big matrix: hyperparameters that allocate nothing but
// cost time there, and the matrix itself.
struct Row {
  std::string name;
  std::function<std::unique_ptr<Optimizer>(const NamedTensors&)> make;
  std::map<std::string, double> matrix_only = {};
  Shape matrix = {4096, 8192};
  std::map<std::string, double> changed = {};  // Try this: hyperparameters set on the MLP too
};

template <class O, class Options>
std::function<std::unique_ptr<Optimizer>(const NamedTensors&)> with(Options options) {
  return [options](const NamedTensors& p) { return std::make_unique<O>(tensors(p), options); };
}

const std::vector<Row> optimizers = {
    {"SGD", with<SGD>(SgdOptions{.learning_rate = 0.1})},
    {"SGD momentum", with<SGD>(SgdOptions{.learning_rate = 0.05, .momentum = 0.9})},
    {"Adam", with<Adam>(AdamOptions{.learning_rate = 3e-3})},
    {"Adam amsgrad", with<Adam>(AdamOptions{.learning_rate = 3e-3, .amsgrad = true})},
    {"AdamW", with<AdamW>(AdamWOptions{.learning_rate = 3e-3, .weight_decay = 0.01})},
    {"Adafactor", with<Adafactor>(AdafactorOptions{})},
    {"Adafactor b1", with<Adafactor>(AdafactorOptions{.beta1 = 0.9})},
    {"Adagrad", with<Adagrad>(AdagradOptions{.learning_rate = 0.05})},
    {"RMSprop", with<RMSprop>(RmspropOptions{.learning_rate = 1e-3})},
    {"Adadelta", with<Adadelta>(AdadeltaOptions{.learning_rate = 1.0})},
    {"Adamax", with<Adamax>(AdamaxOptions{.learning_rate = 2e-3})},
    {"NAdam", with<NAdam>(NadamOptions{.learning_rate = 2e-3})},
    {"RAdam", with<RAdam>(RadamOptions{.learning_rate = 3e-3})},
    {"Lion", with<Lion>(LionOptions{.learning_rate = 3e-4})},
    {"LAMB", with<Lamb>(LambOptions{.learning_rate = 5e-3})},
    // Muon for the matrices, AdamW for the biases; 0 Newton–Schulz steps allocate the same state as 5
    // (which on 4096 x 8192 are 3.4 TFLOP: half a minute).
    {"Muon + AdamW", [](const NamedTensors& p) {
       return std::make_unique<MuonWithAuxAdamW>(split_muon_params(p), MuonOptions{.learning_rate = 0.02},
                                                 AdamWOptions{.learning_rate = 3e-3});
     }, {{"ns_steps", 0}}},
    {"SF-AdamW", with<AdamWScheduleFree>(ScheduleFreeOptions{.learning_rate = 0.01, .warmup_steps = 50})},
    // Adam-mini decides by name; the tutorial names every parameter "mlp.…", so a weight gets one v per row.
    {"Adam-mini", [](const NamedTensors& p) { return std::make_unique<AdamMini>(p, AdamMiniOptions{.learning_rate = 3e-3}); }},
    {"Adam 8-bit", with<Adam8bit>(Adam8bitOptions{.learning_rate = 3e-3})},
    {"AdamW 8-bit", with<AdamW8bit>(AdamW8bitOptions{.learning_rate = 3e-3})},
    // Shampoo cuts the big matrix into 32 blocks of 1024 x 1024 (max_preconditioner_dim), each with the same
    // state, so one such block stands in for it: its first step is then 4 GFLOP of statistics, not 137.
    // Roots only from step 10: the first step allocates them but computes none.
    {"Shampoo", with<Shampoo>(ShampooOptions{.learning_rate = 3e-3, .epsilon = 1e-8, .precondition_frequency = 10,
                                             .grafting = ShampooGrafting::adam, .grafting_epsilon = 1e-8}),
     {{"start_preconditioning_step", 10}}, {1024, 1024}},
    // SOAP's first step is an eigendecomposition of each statistic (8192 x 8192: minutes), so its matrix is a
    // stand-in of the same shape ratio: its bytes per weight, 8 + 8(n² + m²)/(nm), depend only on n/m.
    {"SOAP", with<SOAP>(SoapOptions{}), {}, {256, 512}},
    {"Sophia-G", with<SophiaG>(SophiaGOptions{.learning_rate = 3e-3, .batch_size = 50})},
};

// The one measurement, as tutorial 12 makes it: state exists after a first step; its bytes are read back
// from the allocations and divided by the parameters they serve.
double bytes_per_param(const Optimizer& opt, const NamedTensors& params) {
  int64_t n = 0;
  for (const auto& [name, t] : params) n += t.numel();
  return static_cast<double>(opt.state_bytes_total()) / static_cast<double>(n);
}

// One step on a matrix whose gradient is 1e-3 everywhere; the optimizer is freed before the next one.
double matrix_bytes_per_param(const Row& row) {
  NamedTensors w = {{"mlp.weight", Tensor::zeros(row.matrix).requires_grad_()}};
  w[0].second.set_grad(Tensor::full(row.matrix, 1e-3f));
  std::unique_ptr<Optimizer> opt = row.make(w);
  for (const auto& [key, value] : row.matrix_only) opt->set_hyperparameter(0, key, value);
  opt->step();
  return bytes_per_param(*opt, w);
}

// `epochs` passes over the training set in its file order, minibatches of 50. Sophia-G alone also needs its
// Hessian estimate fed, every 10 steps, from labels sampled from the model's own softmax (tutorial 19).
void train(MLP& model, Optimizer& opt, const Dataset& data, int epochs) {
  auto* sophia = dynamic_cast<SophiaG*>(&opt);
  Generator gen(18);
  int64_t step = 0;
  for (int epoch = 0; epoch < epochs; ++epoch)
    for (int64_t b = 0; b + 50 <= data.size(); b += 50) {
      opt.zero_grad();
      Tensor x = rows(data.inputs, b, b + 50);
      Tensor loss = cross_entropy(model.forward(x), labels_of(data, b, b + 50));  // forward
      loss.backward();                                                            // backward
      opt.step();                                                                 // update
      if (sophia && ++step % 10 == 0) {  // the Gauss–Newton–Bartlett hook
        sophia->zero_grad();
        Tensor logits = model.forward(x);
        cross_entropy(logits, sample_labels(logits, gen)).backward();
        sophia->update_hessian();
      }
    }
}

// One row on the MLP: the same initial weights (seed 0) for every row, `epochs` of training, then the
// state's bytes per parameter and the held-out accuracy. The trained optimizer is kept (part 2 reads Adam's).
struct MlpRun {
  NamedTensors params;
  std::unique_ptr<Optimizer> opt;
  double bytes = 0, accuracy = 0;
};
MlpRun on_mlp(const Row& row, const Dataset& train_set, const Dataset& test_set, int epochs) {
  Generator init(0);
  MLP model({64, 64, 32, 10}, init);
  MlpRun run;
  for (const auto& [name, t] : model.named_parameters()) run.params.push_back({"mlp." + name, t});
  run.opt = row.make(run.params);
  for (const auto& [key, value] : row.changed) run.opt->set_hyperparameter(0, key, value);
  train(model, *run.opt, train_set, epochs);
  run.bytes = bytes_per_param(*run.opt, run.params);
  if (auto* sf = dynamic_cast<AdamWScheduleFree*>(run.opt.get())) sf->eval();  // measured at x, not y (tutorial 16)
  NoGradGuard eval;
  run.accuracy = accuracy(model.forward(test_set.inputs), test_set.labels);
  return run;
}

// ‖dequantize(quantize(x)) − x‖ / ‖x‖ for every block of `block` elements of x (0 for a block of zeros).
std::vector<double> block_errors(const Tensor& x, bool is_signed, int64_t block = kQuantizationBlock) {
  std::vector<float> a = x.to_vector();
  std::vector<float> back = dequantize_blockwise(quantize_blockwise(x, dynamic_map(is_signed), block)).to_vector();
  std::vector<double> errors;
  const size_t n = static_cast<size_t>(block);
  for (size_t begin = 0; begin < a.size(); begin += n) {
    double diff = 0.0, norm = 0.0;
    for (size_t i = begin; i < std::min(a.size(), begin + n); ++i) {
      diff += (static_cast<double>(back[i]) - a[i]) * (static_cast<double>(back[i]) - a[i]);
      norm += static_cast<double>(a[i]) * a[i];
    }
    errors.push_back(norm > 0.0 ? std::sqrt(diff / norm) : 0.0);
  }
  return errors;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

plots::BarChart bars(const std::string& title, const std::vector<double>& values) {
  std::vector<std::string> names;
  for (const Row& row : optimizers) names.push_back(row.name);
  plots::BarChart chart({.title = title});
  chart.set_categories(names).add_series(title, values);
  return chart;
}

// Part 2's table: Adam's m and v, every tensor quantized in blocks of `block` and read back; returns the
// errors per block, m's then v's.
std::pair<std::vector<double>, std::vector<double>> round_trip_table(const MlpRun& adam, int epochs, int64_t block) {
  std::vector<double> m_errors, v_errors;
  for (const auto& [name, p] : adam.params) {
    for (double e : block_errors(adam.opt->state(p)->buffers.at("exp_avg"), /*is_signed=*/true, block)) m_errors.push_back(e);
    for (double e : block_errors(adam.opt->state(p)->buffers.at("exp_avg_sq"), /*is_signed=*/false, block)) v_errors.push_back(e);
  }
  std::printf("Adam's state after %d epochs, each tensor quantized in blocks of %lld (%zu blocks in all):\n", epochs,
              static_cast<long long>(block), m_errors.size());
  std::printf("%-28s %12s %12s %12s\n", "relative error per block", "min", "median", "max");
  for (const auto& [name, errors] : {std::pair{"m, signed dynamic map", &m_errors}, {"v, unsigned dynamic map", &v_errors}})
    std::printf("%-28s %12.5f %12.5f %12.5f\n", name, *std::min_element(errors->begin(), errors->end()), median(*errors),
                *std::max_element(errors->begin(), errors->end()));
  return {m_errors, v_errors};
}

const Row& row_named(const std::string& name) {
  return *std::find_if(optimizers.begin(), optimizers.end(), [&](const Row& r) { return r.name == name; });
}

// A Try this run: the table's row and the changed one(s) on the MLP, or part 2 with other blocks.
int try_this(const std::string& flag, double value, const Dataset& train_set, const Dataset& test_set, int epochs) {
  std::vector<Row> rows;
  auto changed = [&](const std::string& name, const std::string& key) {
    Row row = row_named(name);
    row.name += " *", row.changed = {{key, value}};
    rows.push_back(row);
  };
  if (flag == "--min-8bit-size") {
    rows = {row_named("Adam"), row_named("Adam 8-bit"), row_named("AdamW 8-bit")};
    changed("Adam 8-bit", "min_8bit_size"), changed("AdamW 8-bit", "min_8bit_size");
  } else if (flag == "--max-dim") {
    rows = {row_named("Shampoo")};
    changed("Shampoo", "max_preconditioner_dim");
  } else if (flag == "--lion-lr") {
    rows = {row_named("Lion")};
    changed("Lion", "learning_rate");
  } else if (flag == "--block") {
    MlpRun adam = on_mlp(row_named("Adam"), train_set, test_set, epochs);
    round_trip_table(adam, epochs, kQuantizationBlock);
    std::printf("\n");
    round_trip_table(adam, epochs, static_cast<int64_t>(value));
    return 0;
  } else {
    std::fprintf(stderr, "17_what_state_costs: unknown flag %s (--out, --min-8bit-size, --max-dim, --lion-lr, --block)\n",
                 flag.c_str());
    return 2;
  }
  std::printf("(* %s %g)\n%-14s %9s %16s %18s\n", flag.c_str(), value, "optimizer", "lr", "bytes/param MLP",
              "held-out accuracy");
  for (const Row& row : rows) {
    MlpRun run = on_mlp(row, train_set, test_set, epochs);
    std::printf("%-14s %9.4g %16.4f %18.4f\n", row.name.c_str(), run.opt->learning_rate(0), run.bytes, run.accuracy);
  }
  return 0;
}

int main(int argc, char** argv) {
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  const int epochs = 20;
  std::printf("UCI digits: %lld training, %lld held-out images; MLP 64-64-32-10 (6570 parameters), batch 50,\n"
              "%d epochs (560 steps), the same initial weights for every optimizer\n\n",
              static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()), epochs);
  if (argc == 3 && std::strcmp(argv[1], "--out") != 0) return try_this(argv[1], std::atof(argv[2]), train_set, test_set, epochs);
  std::string out_dir = argc == 3 ? argv[2] : ".";

  // ---- 1 and 3: state per parameter on the matrix and on the MLP, and the accuracy it buys -------
  std::vector<double> matrix_bytes, mlp_bytes, accuracies;
  MlpRun adam;  // kept for part 2
  std::printf("%-14s %9s %18s %14s %12s\n", "optimizer", "lr", "bytes/param", "bytes/param", "held-out");
  std::printf("%-14s %9s %18s %14s %12s\n", "", "", "4096 x 8192", "MLP", "accuracy");
  for (const Row& row : optimizers) {
    matrix_bytes.push_back(matrix_bytes_per_param(row));
    MlpRun run = on_mlp(row, train_set, test_set, epochs);
    mlp_bytes.push_back(run.bytes), accuracies.push_back(run.accuracy);
    std::printf("%-14s %9.4g %18.4f %14.4f %12.4f\n", row.name.c_str(), run.opt->learning_rate(0), matrix_bytes.back(),
                mlp_bytes.back(), accuracies.back());
    if (row.name == "Adam") adam = std::move(run);
  }
  std::printf("(SOAP's matrix column is measured on 256 x 512, the same shape ratio, and Shampoo's on one of the\n"
              "32 blocks of 1024 x 1024 it cuts the matrix into; Adafactor's lr caps its relative step; Muon's is the\n"
              "matrices', its AdamW's biases take 0.003)\n\n");
  plots::Figure state({.title = "Optimizer state, bytes per parameter (measured)", .columns = 1,
                       .panel_width = 1500, .panel_height = 330});
  state.add(bars("one 4096 x 8192 matrix", matrix_bytes)).add(bars("the MLP 64-64-32-10", mlp_bytes));
  state.save_png(out_dir + "/state_bytes.png");

  // ---- 2: Adam's moments through 8 bits and back ------------------------------------------------
  auto [m_errors, v_errors] = round_trip_table(adam, epochs, kQuantizationBlock);
  std::printf("\n");
  std::vector<double> block(m_errors.size());
  for (size_t b = 0; b < block.size(); ++b) block[b] = static_cast<double>(b);
  plots::LineChart round_trip({.title = "8-bit round trip of Adam's state: |Q(x) - x| / |x| per block of 256",
                               .x_label = "block (layers.0.weight: 0-15, then its bias, layers.1 ...)",
                               .y_label = "relative error", .y_scale = plots::Scale::log});
  round_trip.add_series({.name = "m, signed map", .x = block, .y = m_errors, .markers = true});
  round_trip.add_series({.name = "v, unsigned map", .x = block, .y = v_errors, .markers = true});
  round_trip.save_png(out_dir + "/quantization_error.png");

  plots::Figure pair({.title = "What the state buys on the MLP", .columns = 1, .panel_width = 1500, .panel_height = 330});
  pair.add(bars("held-out accuracy after 20 epochs", accuracies)).add(bars("bytes of state per parameter", mlp_bytes));
  pair.save_png(out_dir + "/accuracy_and_state.png");
  std::printf("wrote state_bytes.png, quantization_error.png, accuracy_and_state.png\n");
  return 0;
}
