// shootout.hpp — the eleven optimizers of tutorial 22's shoot-out (shootout.cpp), each as a factory for the
// GPT at a learning rate, with the rate its sweep is centred on; and the schedule of a run of any length.
// Used by shootout.cpp and tests/test_gpt.cpp (every contender's checkpointed run resumes bit for bit).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpt.hpp"

namespace gpt {

// How one optimizer is built for the GPT at learning rate `lr`. The shared conventions: nanoGPT's split
// (decay on tensors of 2 or more dims, none on LayerNorm weights) wherever the optimizer decays, the
// recipe's β2 = 0.99 for the Adam-like second moments (few tokens per step; nanoGPT's choice for this model).
using Factory = std::function<std::unique_ptr<Optimizer>(const Gpt&, double lr)>;

struct Contender {
  std::string name;
  double lr;               // the middle of the sweep
  Factory make;
  bool cosine = true;      // the recipe's warmup and cosine; false: a constant rate (the optimizer warms up itself)
  std::string note = "";
};

// An optimizer of the family O with `options` on the decayed tensors and weight_decay 0 on the others.
template <class O, class Options>
std::unique_ptr<Optimizer> two_groups(const Gpt& model, Options options) {
  DecaySplit s = decay_split(model);
  auto opt = std::make_unique<O>(s.decay, options);
  opt->add_param_group(s.no_decay, {{"weight_decay", 0.0}});
  return opt;
}

inline const std::vector<Contender>& contenders() {
  static const std::vector<Contender> all = {
      {"AdamW", 1e-3, [](const Gpt& m, double lr) {
         return two_groups<AdamW>(m, AdamWOptions{.learning_rate = lr, .beta2 = 0.99, .weight_decay = 0.1});
       }, true, "the recipe's optimizer"},
      {"Adam", 1e-3, [](const Gpt& m, double lr) {
         return std::make_unique<Adam>(m.parameters(), AdamOptions{.learning_rate = lr, .beta2 = 0.99});
       }, true, "no weight decay"},
      {"Adafactor", 1e-3, [](const Gpt& m, double lr) {
         return std::make_unique<Adafactor>(m.parameters(), AdafactorOptions{.learning_rate = lr, .relative_step = false,
                                                                             .scale_parameter = false});
       }, true, "no momentum, factored v, update clipping"},
      {"Lion", 1e-4, [](const Gpt& m, double lr) {
         return two_groups<Lion>(m, LionOptions{.learning_rate = lr, .weight_decay = 1.0});
       }, true, "lambda 1.0: lr x lambda as AdamW's"},
      {"Muon + AdamW", 0.02, [](const Gpt& m, double lr) {
         MuonParamSplit split = split_muon_params(m.named_parameters(), {"transformer.wte", "transformer.wpe"});
         return std::make_unique<MuonWithAuxAdamW>(split, MuonOptions{.learning_rate = lr, .weight_decay = 0.0},
                                                   AdamWOptions{.learning_rate = 1e-3, .beta2 = 0.99, .weight_decay = 0.0});
       }, true, "Muon on the blocks' matrices; AdamW 1e-3 on embeddings, LayerNorms"},
      {"LAMB", 5e-3, [](const Gpt& m, double lr) {
         return two_groups<Lamb>(m, LambOptions{.learning_rate = lr, .beta2 = 0.99, .weight_decay = 0.1});
       }, true, "trust ratio per tensor"},
      {"SF-AdamW", 3e-3, [](const Gpt& m, double lr) {
         return two_groups<AdamWScheduleFree>(m, ScheduleFreeOptions{.learning_rate = lr, .beta2 = 0.99,
                                                                     .weight_decay = 0.1, .warmup_steps = 100});
       }, false, "no schedule: its own warmup (100), evaluated at x"},
      {"Adam-mini", 1e-3, [](const Gpt& m, double lr) {
         AdamMiniModel model{.dim = m.config.n_embd, .n_heads = m.config.n_head};
         model.names.embd.push_back("wpe");          // one v per position, as per token
         model.names.wv.push_back("c_attn");         // q, k, v fused in one matrix: one v per output row
         model.names.attn_proj.push_back("attn.c_proj");
         return std::make_unique<AdamMini>(m.named_parameters(), AdamMiniOptions{.learning_rate = lr, .beta2 = 0.99,
                                                                                 .weight_decay = 0.1}, model);
       }, true, "one v per row or tensor; decay by name"},
      {"AdamW 8-bit", 1e-3, [](const Gpt& m, double lr) {
         return two_groups<AdamW8bit>(m, AdamW8bitOptions{.learning_rate = lr, .beta2 = 0.99, .weight_decay = 0.1});
       }, true, "m and v in 8 bits per element"},
      {"SOAP", 3e-3, [](const Gpt& m, double lr) {
         return two_groups<SOAP>(m, SoapOptions{.learning_rate = lr, .weight_decay = 0.1});
       }, true, "Adam in Shampoo's eigenbasis, refreshed every 10 steps"},
      {"Sophia-G", 3e-4, [](const Gpt& m, double lr) {
         return two_groups<SophiaG>(m, SophiaGOptions{.learning_rate = lr, .weight_decay = 0.1,
                                                      .batch_size = static_cast<double>(12 * m.config.block_size)});
       }, true, "Hessian estimate every 10 steps from sampled labels"},
  };
  return all;
}

// The schedule of a run of `iters` iterations at peak `lr`: the recipe's shape (warmup 5 %, cosine to lr/10),
// or a constant rate for an optimizer that warms up on its own.
inline Recipe recipe_for(const Contender& c, double lr, int64_t iters) {
  Recipe r{.max_iters = iters, .warmup_iters = iters / 20, .lr_decay_iters = iters, .learning_rate = lr,
           .min_lr = lr / 10};
  if (!c.cosine) r.warmup_iters = 0, r.min_lr = lr;
  return r;
}

}  // namespace gpt
