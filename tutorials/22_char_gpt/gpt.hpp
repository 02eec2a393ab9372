// gpt.hpp — nanoGPT's GPT (karpathy/nanoGPT, model.py), its training recipe for Tiny Shakespeare on a CPU
// (config/train_shakespeare_char.py with the README's CPU overrides), evaluation and sampling, in moments.
// Used by tutorials/22_char_gpt/main.cpp, tests/bench/bench_gpt.cpp and tests/test_gpt.cpp.
//
// THE MODEL (bias = False, dropout = 0, as the recipe):
//   x = wte[ids] + wpe[0..T)                                   (B, T, C)   token and learned position embeddings
//   for each of n_layer blocks (pre-LayerNorm):
//     x = x + c_proj(attention(ln_1(x)))                        causal self-attention, n_head heads of C / n_head
//     x = x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x))))               an MLP of width 4C, GELU in its exact (erf) form
//   logits = ln_f(x) wteᵀ                                      (B, T, V)   the output layer IS the token embedding
// attention(h): q, k, v = h W_attnᵀ split in three (B, T, C), each split into heads (B, H, T, C/H);
//               y = softmax(q kᵀ / √(C/H), causal) v (ops.hpp's fused causal_self_attention), the heads
//               side by side again (B, T, C).
//
// INITIALISATION (model.py's _init_weights): every Linear weight and both embeddings N(0, 0.02), each
// residual projection (attn.c_proj, mlp.c_proj) N(0, 0.02 / √(2 · n_layer)), LayerNorm weights 1.
// PARAMETERS, named as nanoGPT's named_parameters() names them: "transformer.wte.weight", ...; the tied
// lm_head.weight is wte itself and is listed once. nanoGPT prints the count without the position
// embeddings (get_num_params(non_embedding=True)): 0.80M for the recipe.
//
// THE RECIPE (train.py): AdamW with β = (0.9, 0.99), weight decay 0.1 on the tensors of 2 or more dims
// (embeddings and Linear weights; none on LayerNorm weights), learning rate warmed up as lr · (it + 1) /
// (warmup + 1) for 100 iterations, then a cosine from 1e-3 down to 1e-4 at iteration 2000, gradients
// clipped to a global norm of 1, batch 12 windows of 64 characters, 2000 iterations.
//
// DEVIATIONS, all stated: batches come from our Generator (data/datasets.hpp: sample_windows), not
// torch.randint; nanoGPT's evaluation draws 20 fresh random batches each time, ours is a fixed set of
// windows (see Evaluation) so that two runs and two optimizers are measured on the same text.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "moments.hpp"

namespace gpt {

using namespace moments;

struct Config {
  int64_t vocab_size = 65;  // V
  int64_t block_size = 64;  // T, the longest context
  int64_t n_layer = 4;
  int64_t n_head = 4;       // H
  int64_t n_embd = 128;     // C
};

// One transformer block's weights (no biases).
struct Block {
  Tensor ln_1;       // (C) LayerNorm weight
  Tensor c_attn;     // (3C, C) q, k, v projections of every head, one Linear
  Tensor attn_proj;  // (C, C) attn.c_proj: the heads' outputs back into the residual stream
  Tensor ln_2;       // (C)
  Tensor c_fc;       // (4C, C) mlp.c_fc
  Tensor mlp_proj;   // (C, 4C) mlp.c_proj
};

class Gpt : public Module {
 public:
  Gpt(const Config& config, Generator& gen) : config(config) {
    if (config.n_embd % config.n_head != 0)
      fail("Gpt: n_embd ", config.n_embd, " is not a multiple of n_head ", config.n_head);
    const int64_t C = config.n_embd;
    const float residual_std = 0.02f / std::sqrt(2.0f * static_cast<float>(config.n_layer));
    auto normal = [&](const Shape& shape, float std) { return randn(shape, gen, 0.0f, std).requires_grad_(); };
    wte = normal({config.vocab_size, C}, 0.02f);
    wpe = normal({config.block_size, C}, 0.02f);
    for (int64_t l = 0; l < config.n_layer; ++l) {
      Block b;
      b.ln_1 = Tensor::ones({C}).requires_grad_();
      b.c_attn = normal({3 * C, C}, 0.02f);
      b.attn_proj = normal({C, C}, residual_std);
      b.ln_2 = Tensor::ones({C}).requires_grad_();
      b.c_fc = normal({4 * C, C}, 0.02f);
      b.mlp_proj = normal({C, 4 * C}, residual_std);
      h.push_back(b);
    }
    ln_f = Tensor::ones({C}).requires_grad_();
    no_bias_ = Tensor::zeros({C});  // LayerNorm(bias=False): a constant 0, not a parameter
  }

  // ids (B, T) row-major, each in [0, V), T <= block_size → logits (B, T, V).
  Tensor logits(const std::vector<int64_t>& ids, int64_t batch, int64_t time) const {
    if (time < 1 || time > config.block_size)
      fail("Gpt: sequence of length ", time, ", expected 1..", config.block_size, " (block_size)");
    std::vector<int64_t> positions(static_cast<size_t>(time));
    for (int64_t t = 0; t < time; ++t) positions[static_cast<size_t>(t)] = t;
    Tensor x = embedding(wte, ids, {batch, time}) + embedding(wpe, positions, {time});  // (B, T, C) + (T, C)
    for (const Block& b : h) {
      x = x + linear(attention(layer_norm(x, b.ln_1, no_bias_), b.c_attn), b.attn_proj, {});  // x + attn(ln_1(x))
      Tensor hidden = gelu_erf(linear(layer_norm(x, b.ln_2, no_bias_), b.c_fc, {}));         // (B, T, 4C)
      x = x + linear(hidden, b.mlp_proj, {});                                                 // x + mlp(ln_2(x))
    }
    return linear(layer_norm(x, ln_f, no_bias_), wte, {});  // (B, T, V): lm_head tied to wte
  }

  // The mean cross-entropy of predicting each target from the inputs before it (nanoGPT's loss).
  Tensor loss(const TokenBatch& batch) const {
    Tensor z = logits(batch.inputs, batch.batch, batch.block);
    return cross_entropy(reshape(z, {batch.batch * batch.block, config.vocab_size}), batch.targets);
  }

  // Module's interface (checkpoints walk named_parameters): ids as a float tensor (B, T) → logits.
  Tensor forward(const Tensor& ids) const override {
    if (ids.dim() != 2) fail("Gpt::forward: ids must be (B, T), got ", shape_str(ids.shape()));
    std::vector<int64_t> v;
    for (float id : ids.to_vector()) {
      if (!(id >= 0 && id < static_cast<float>(config.vocab_size) && id == std::floor(id)))
        fail("Gpt::forward: id ", id, " at index ", v.size(), " is not an integer in [0, ", config.vocab_size, ")");
      v.push_back(static_cast<int64_t>(id));
    }
    return logits(v, ids.size(0), ids.size(1));
  }

  NamedTensors named_parameters() const override {
    NamedTensors out{{"transformer.wte.weight", wte}, {"transformer.wpe.weight", wpe}};
    for (size_t l = 0; l < h.size(); ++l) {
      const std::string p = "transformer.h." + std::to_string(l) + ".";
      out.emplace_back(p + "ln_1.weight", h[l].ln_1);
      out.emplace_back(p + "attn.c_attn.weight", h[l].c_attn);
      out.emplace_back(p + "attn.c_proj.weight", h[l].attn_proj);
      out.emplace_back(p + "ln_2.weight", h[l].ln_2);
      out.emplace_back(p + "mlp.c_fc.weight", h[l].c_fc);
      out.emplace_back(p + "mlp.c_proj.weight", h[l].mlp_proj);
    }
    out.emplace_back("transformer.ln_f.weight", ln_f);
    return out;
  }

  // Moves every parameter to `device` (Device::cuda: a GPU, or the CPU emulator) as new leaves, as
  // Linear::to does. Make the optimizer after moving, so that it holds the new tensors.
  void to(Device device) {
    auto move = [device](Tensor& p) { p = p.to(device).detach().requires_grad_(); };
    move(wte), move(wpe), move(ln_f);
    for (Block& b : h) move(b.ln_1), move(b.c_attn), move(b.attn_proj), move(b.ln_2), move(b.c_fc), move(b.mlp_proj);
    no_bias_ = no_bias_.to(device);
  }

  // nanoGPT's get_num_params(): every parameter but the position embeddings.
  int64_t non_embedding_parameter_count() const { return parameter_count() - wpe.numel(); }

  Config config;
  Tensor wte;  // (V, C) token embedding, and the output layer
  Tensor wpe;  // (T, C) position embedding
  std::vector<Block> h;
  Tensor ln_f;  // (C)

 private:
  // x (B, T, C) → (B, T, C): causal self-attention of n_head heads of width C / n_head.
  Tensor attention(const Tensor& x, const Tensor& c_attn) const {
    const int64_t B = x.size(0), T = x.size(1), C = config.n_embd, H = config.n_head;
    Tensor qkv = linear(x, c_attn, {});  // (B, T, 3C): q, k, v side by side
    auto heads = [&](int64_t part) {     // part 0, 1, 2 of qkv as (B, H, T, C/H)
      return transpose(reshape(slice(qkv, 2, part * C, (part + 1) * C), {B, T, H, C / H}), 1, 2);
    };
    Tensor y = causal_self_attention(heads(0), heads(1), heads(2));  // softmax(q kᵀ/√(C/H), causal) v: (B, H, T, C/H)
    return reshape(transpose(y, 1, 2), {B, T, C});                   // the heads side by side again
  }

  Tensor no_bias_;  // (C) zeros
};

// ---- the recipe -----------------------------------------------------------------------------------

struct Recipe {
  int64_t batch_size = 12;
  int64_t max_iters = 2000;
  int64_t warmup_iters = 100;
  int64_t lr_decay_iters = 2000;
  double learning_rate = 1e-3;  // the peak
  double min_lr = 1e-4;         // the end of the cosine
  double beta1 = 0.9, beta2 = 0.99;
  double weight_decay = 0.1;    // on tensors of 2 or more dims only
  double grad_clip = 1.0;       // the largest global gradient norm (0: no clipping)
  uint64_t seed = 1337;         // of the training batches
};

// train.py's get_lr(it), as a factor of the peak: the scheduler sets lr = learning_rate · f(it) before
// iteration it (LrScheduler's t is the iteration).
inline Schedule nanogpt_schedule(const Recipe& r) {
  return [r](int64_t it) {
    double lr;
    if (it < r.warmup_iters) {
      lr = r.learning_rate * static_cast<double>(it + 1) / static_cast<double>(r.warmup_iters + 1);  // linear warmup
    } else if (it > r.lr_decay_iters) {
      lr = r.min_lr;
    } else {
      double decay_ratio = static_cast<double>(it - r.warmup_iters) / static_cast<double>(r.lr_decay_iters - r.warmup_iters);
      double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * decay_ratio));  // 1 → 0
      lr = r.min_lr + coeff * (r.learning_rate - r.min_lr);
    }
    return lr / r.learning_rate;
  };
}

// An optimizer for a model: the hook through which any optimizer trains the GPT (the recipe's is below).
using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const Gpt&, const Recipe&)>;

// model.py's configure_optimizers' split: decay on every tensor of 2 or more dims, none on the others.
struct DecaySplit {
  std::vector<Tensor> decay, no_decay;
};
inline DecaySplit decay_split(const Gpt& model) {
  DecaySplit s;
  for (const auto& [name, p] : model.named_parameters()) (p.dim() >= 2 ? s.decay : s.no_decay).push_back(p);
  return s;
}

// The recipe's optimizer: AdamW on the two groups of decay_split.
inline std::unique_ptr<Optimizer> nanogpt_adamw(const Gpt& model, const Recipe& r) {
  DecaySplit s = decay_split(model);
  auto adamw = std::make_unique<AdamW>(s.decay, AdamWOptions{.learning_rate = r.learning_rate, .beta1 = r.beta1,
                                                             .beta2 = r.beta2, .weight_decay = r.weight_decay});
  adamw->add_param_group(s.no_decay, {{"weight_decay", 0.0}});
  return adamw;
}

// ---- evaluation -----------------------------------------------------------------------------------

// A fixed set of windows: `count` batches of `batch` windows of `block` ids, their offsets drawn once
// from Generator(seed). nanoGPT's CPU recipe averages 20 batches of 12 (eval_iters = 20), drawn anew.
inline std::vector<TokenBatch> fixed_windows(const std::vector<int64_t>& ids, int64_t count, int64_t batch,
                                             int64_t block, uint64_t seed) {
  Generator gen(seed);
  std::vector<TokenBatch> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(sample_windows(ids, batch, block, gen));
  return out;
}

// Every window of `block` ids that starts at a multiple of `block` (0, block, 2·block, ... as long as its
// last target is in `ids`), in batches of `batch` (the last one may hold fewer): the whole text, each id
// predicted once. For the validation text of Tiny Shakespeare, 1,742 windows of 64.
inline std::vector<TokenBatch> all_windows(const std::vector<int64_t>& ids, int64_t batch, int64_t block) {
  std::vector<TokenBatch> out;
  std::vector<int64_t> offsets;
  for (int64_t o = 0; o + block < static_cast<int64_t>(ids.size()); o += block) {
    offsets.push_back(o);
    if (static_cast<int64_t>(offsets.size()) == batch) out.push_back(windows_at(ids, offsets, block)), offsets.clear();
  }
  if (!offsets.empty()) out.push_back(windows_at(ids, offsets, block));
  return out;
}

// The mean loss over every predicted character of the batches (each batch's mean, weighted by its
// windows), without recording a graph.
inline double mean_loss(const Gpt& model, const std::vector<TokenBatch>& batches) {
  NoGradGuard no_grad;
  double total = 0, windows = 0;
  for (const TokenBatch& b : batches) {
    total += model.loss(b).item() * static_cast<double>(b.batch);
    windows += static_cast<double>(b.batch);
  }
  return total / windows;
}

// ---- sampling -------------------------------------------------------------------------------------

// sample.py's generate: `count` new characters after `prompt`, each drawn from softmax(z / temperature)
// over the `top_k` largest logits z of the last position (top_k = 0: all), with one gen.uniform() per
// character (the inverse of the cumulative distribution, in double). The context is cropped to block_size.
inline std::string generate(const Gpt& model, const CharCorpus& corpus, const std::string& prompt, int64_t count,
                            double temperature, int64_t top_k, Generator& gen) {
  if (!(temperature > 0.0)) fail("generate: temperature ", temperature, " must be > 0");
  NoGradGuard no_grad;
  std::vector<int64_t> ids = corpus.encode(prompt);
  if (ids.empty()) fail("generate: the prompt is empty (nanoGPT starts from \"\\n\")");
  const int64_t V = model.config.vocab_size;
  for (int64_t n = 0; n < count; ++n) {
    const int64_t T = std::min<int64_t>(static_cast<int64_t>(ids.size()), model.config.block_size);
    std::vector<int64_t> context(ids.end() - T, ids.end());
    std::vector<float> z = slice(model.logits(context, 1, T), 1, T - 1, T).to_vector();  // (V) the last position
    std::vector<float> sorted = z;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    const float kth = top_k > 0 && top_k < V ? sorted[static_cast<size_t>(top_k - 1)] : sorted.back();
    std::vector<double> p(static_cast<size_t>(V), 0.0);
    double total = 0;
    for (size_t c = 0; c < p.size(); ++c)  // z < the k-th largest: -inf, as sample.py's top-k
      if (z[c] >= kth) total += p[c] = std::exp((z[c] - sorted[0]) / temperature);
    double u = gen.uniform() * total, run = 0;
    int64_t next = 0;
    for (size_t c = 0; c < p.size(); ++c)
      if (p[c] > 0) {
        next = static_cast<int64_t>(c);
        if (u < (run += p[c])) break;
      }
    ids.push_back(next);
  }
  return corpus.decode(std::vector<int64_t>(ids.end() - count, ids.end()));
}

// ---- training -------------------------------------------------------------------------------------

// The loop of train.py, one iteration per step(): draw a batch, forward, backward, clip, update, and
// set the next iteration's learning rate. The batches of a run come from one Generator(recipe.seed), two
// uniforms per window (sample_windows), so iteration i's batch is fixed by the seed and i.
class Trainer {
 public:
  Trainer(Gpt& model, const CharCorpus& corpus, const Recipe& recipe, const OptimizerFactory& make_optimizer = nanogpt_adamw)
      : model(model), corpus(corpus), recipe(recipe), optimizer(make_optimizer(model, recipe)),
        schedule(*optimizer, nanogpt_schedule(recipe)), batches_(recipe.seed) {}

  // One iteration; returns its training loss (before the update).
  float step() {
    TokenBatch batch = sample_windows(corpus.train, recipe.batch_size, model.config.block_size, batches_);
    optimizer->zero_grad();
    Tensor loss = model.loss(batch);                                               // forward
    loss.backward();                                                               // backward
    if (recipe.grad_clip > 0) clip_grad_norm_tensor(optimizer->all_params(), recipe.grad_clip);  // no wait on cuda
    if (monitor) monitor->before_step();
    optimizer->step();                                                             // update
    if (after_update) after_update(*this, batch);                                  // e.g. Sophia's Hessian
    float value = loss.item();
    if (monitor) monitor->record(iteration + 1, value);                            // its step count: 1, 2, ...
    schedule.step();                                                               // lr of the next iteration
    ++iteration;
    return value;
  }

  // After load_checkpoint restored the model, the optimizer and the schedule at iteration `it`: draws
  // the batch generator on to where iteration `it` starts, so the run goes on as if never stopped.
  void resume_at(int64_t it) {
    if (iteration != 0) fail("Trainer::resume_at: this trainer has already run ", iteration, " iterations");
    for (int64_t i = 0; i < it * recipe.batch_size * 2; ++i) batches_.uniform();
    iteration = it;
  }

  Gpt& model;
  const CharCorpus& corpus;
  Recipe recipe;
  std::unique_ptr<Optimizer> optimizer;
  LrScheduler schedule;
  int64_t iteration = 0;  // iterations run (the next one's index)
  Monitor* monitor = nullptr;  // when set: before_step() and record() around every update (monitor/monitor.hpp)
  // When set: called after every update with this iteration's batch (iteration is still its index), for
  // what an optimizer needs besides the gradient: Sophia-G's Hessian estimate every k iterations (shootout.cpp).
  std::function<void(Trainer&, const TokenBatch&)> after_update{};

 private:
  Generator batches_;
};

}  // namespace gpt
