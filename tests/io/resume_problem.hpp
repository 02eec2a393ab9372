// resume_problem.hpp — the training run the resume tests interrupt, shared by
// test_checkpoint.cpp (the uninterrupted run) and resume_helper.cpp (the run
// that stops, saves, and continues in a fresh process).
//
// A 64 → 16 → 10 MLP on the first 200 UCI digits, minibatches of 20 (step t uses
// batch t mod 10), two parameter groups (weights with decay, biases without),
// a warmup-cosine schedule and gradient clipping: every piece of state a resume
// must carry — parameters, every optimizer buffer, step counts, hyperparameters,
// the schedule's t — changes along the way.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "moments.hpp"

namespace io_testing {

using namespace moments;

// The optimizers (and variants with extra buffers) every resume test covers.
inline const std::vector<std::string> resume_optimizers = {"SGD", "SGD-nesterov", "Adam", "Adam-amsgrad",
                                                           "AdamW", "Adafactor", "Adafactor-beta1",
                                                           "AdamWScheduleFree"};

struct ResumeRun {
  Generator gen;
  MLP model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LrScheduler> schedule;
  Dataset data;

  // `init_seed` differs between the first and the resumed process: a resume must
  // overwrite every parameter, whatever the fresh model started from.
  ResumeRun(const std::string& kind, uint64_t init_seed)
      : gen(init_seed), model({64, 16, 10}, gen), data(split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 200).first) {
    std::vector<Tensor> weights, biases;
    for (const auto& [name, p] : model.named_parameters()) (name.ends_with("bias") ? biases : weights).push_back(p);
    if (kind == "SGD" || kind == "SGD-nesterov") {
      auto sgd = std::make_unique<SGD>(weights, SgdOptions{.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 1e-3,
                                                            .nesterov = kind == "SGD-nesterov"});
      sgd->add_param_group(biases, {.learning_rate = 0.05, .momentum = 0.9, .dampening = kind == "SGD" ? 0.1 : 0.0});
      optimizer = std::move(sgd);
    } else if (kind == "Adam" || kind == "Adam-amsgrad") {
      bool amsgrad = kind == "Adam-amsgrad";
      auto adam = std::make_unique<Adam>(weights, AdamOptions{.learning_rate = 3e-3, .weight_decay = 1e-3, .amsgrad = amsgrad});
      adam->add_param_group(biases, {.learning_rate = 1e-3, .beta2 = 0.99, .amsgrad = amsgrad});
      optimizer = std::move(adam);
    } else if (kind == "AdamW") {
      auto adamw = std::make_unique<AdamW>(weights, AdamWOptions{.learning_rate = 3e-3, .weight_decay = 0.1});
      adamw->add_param_group(biases, {.learning_rate = 3e-3, .weight_decay = 0.0});
      optimizer = std::move(adamw);
    } else if (kind == "Adafactor" || kind == "Adafactor-beta1") {
      double beta1 = kind == "Adafactor-beta1" ? 0.9 : 0.0;
      auto adafactor = std::make_unique<Adafactor>(weights, AdafactorOptions{.weight_decay = 1e-3, .beta1 = beta1});
      adafactor->add_param_group(biases, {.learning_rate = 1e-2, .beta1 = beta1, .relative_step = false});
      optimizer = std::move(adafactor);
    } else if (kind == "AdamWScheduleFree") {  // its state has scalars (lr_max, weight_sum) besides buffers
      auto sf = std::make_unique<AdamWScheduleFree>(weights, ScheduleFreeOptions{.learning_rate = 3e-3, .weight_decay = 0.1,
                                                                                 .warmup_steps = 3, .r = 0.5});
      sf->add_param_group(biases, {.learning_rate = 1e-2});
      optimizer = std::move(sf);
    } else {
      fail("ResumeRun: unknown optimizer '", kind, "'");
    }
    schedule = std::make_unique<LrScheduler>(*optimizer, warmup_cosine(/*warmup_steps=*/5, /*total_steps=*/60, 0.1));
  }

  // Steps [from, to); returns each step's loss.
  std::vector<float> train(int64_t from, int64_t to) {
    std::vector<float> losses;
    for (int64_t t = from; t < to; ++t) {
      int64_t begin = (t % 10) * 20;
      optimizer->zero_grad();
      Tensor loss = cross_entropy(model.forward(rows(data.inputs, begin, begin + 20)), labels_of(data, begin, begin + 20));  // forward
      loss.backward();                                                                                                   // backward
      clip_grad_norm(model.parameters(), 1.0);
      optimizer->step();                                                                                                 // update
      schedule->step();
      losses.push_back(loss.item());
    }
    return losses;
  }

  void save(const std::string& path, int64_t step) { save_checkpoint(path, model, *optimizer, schedule.get(), {.step = step}); }
  int64_t load(const std::string& path) { return load_checkpoint(path, model, *optimizer, schedule.get()).step; }
};

}  // namespace io_testing
