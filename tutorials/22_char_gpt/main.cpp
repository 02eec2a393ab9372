// Tutorial 22 — a character-level GPT on Tiny Shakespeare, nanoGPT's CPU recipe in moments.
//
// The model, the recipe, the evaluation and the sampler are in gpt.hpp next to this file (about 300 lines,
// each piece matched to nanoGPT's model.py, train.py and sample.py). This program
//   1. reads the corpus and splits it as nanoGPT's prepare.py does;
//   2. builds the recipe's model (4 layers, 4 heads, width 128, context 64) and lists its parameters;
//   3. trains a smaller GPT of the same code for a few hundred iterations (seconds), printing the training
//      and validation loss, and samples from it;
//   with --full, trains the recipe's model for its 2000 iterations instead (minutes; the README's second
//   output block, checked by the benchmark suite tutorials-full; tests/bench/bench_gpt.cpp times it).
//
// Build and run:  meson compile -C build && ./build/tutorials/22_char_gpt [--full] [--data DIR]
//   --data DIR  where tinyshakespeare.txt is (default: the source tree's tests/data)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gpt.hpp"

using namespace moments;

namespace {

// Characters as a reader sees them: a newline as \n.
std::string visible(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

void list_parameters(const gpt::Gpt& model) {
  std::printf("%-38s %-11s %9s  %s\n", "parameter", "shape", "count", "weight decay");
  for (const auto& [name, p] : model.named_parameters()) {
    bool shown = name.find(".h.") == std::string::npos || name.find(".h.0.") != std::string::npos;
    if (shown)
      std::printf("%-38s %-11s %9lld  %s\n", name.c_str(), shape_str(p.shape()).c_str(),
                  static_cast<long long>(p.numel()), p.dim() >= 2 ? "0.1" : "0");
  }
  std::printf("(transformer.h.1 to h.3: as h.0)\n");
  std::printf("number of parameters: %.2fM (%lld, and %lld in the position embeddings)\n",
              static_cast<double>(model.non_embedding_parameter_count()) / 1e6,
              static_cast<long long>(model.non_embedding_parameter_count()), static_cast<long long>(model.wpe.numel()));
}

// What character statistics alone score on the validation text, in nats per character: each character
// predicted from its frequency in the training text, or from the one before it (the training text's
// counts of each pair, plus one for every pair so that none has probability 0).
void statistics_baselines(const CharCorpus& text) {
  const size_t V = static_cast<size_t>(text.vocab_size());
  std::vector<double> unigram(V, 0.0), bigram(V * V, 1.0);  // bigram[a·V + b]: b after a, add-one
  for (size_t i = 0; i < text.train.size(); ++i) {
    unigram[static_cast<size_t>(text.train[i])] += 1;
    if (i > 0) bigram[static_cast<size_t>(text.train[i - 1]) * V + static_cast<size_t>(text.train[i])] += 1;
  }
  std::vector<double> after(V, 0.0);  // Σ_b bigram[a·V + b]
  for (size_t a = 0; a < V; ++a)
    for (size_t b = 0; b < V; ++b) after[a] += bigram[a * V + b];
  double uni = 0, bi = 0;
  const std::vector<int64_t>& val = text.validation;
  for (size_t i = 1; i < val.size(); ++i) {
    const size_t a = static_cast<size_t>(val[i - 1]), b = static_cast<size_t>(val[i]);
    uni -= std::log(unigram[b] / static_cast<double>(text.train.size()));
    bi -= std::log(bigram[a * V + b] / after[a]);
  }
  const double n = static_cast<double>(val.size() - 1);
  std::printf("   character statistics alone, on the validation text: %.4f (each character's frequency),\n"
              "   %.4f (its frequency after the character before it); a uniform guess: ln %zu = %.4f\n\n", uni / n, bi / n, V,
              std::log(static_cast<double>(V)));
}

// Trains `model` by `recipe`, printing the losses every `every` iterations: the mean training loss since
// the last line and the mean loss on the fixed validation windows.
void train(gpt::Gpt& model, const CharCorpus& text, const gpt::Recipe& recipe, int64_t every,
           const std::vector<TokenBatch>& validation) {
  // The optimizer comes from a factory (gpt::nanogpt_adamw: AdamW, decay on 2-D tensors): any other
  // optimizer trains the same model through the same loop.
  gpt::Trainer trainer(model, text, recipe, gpt::nanogpt_adamw);
  std::printf("%6s %8s %8s %10s %10s\n", "iter", "train", "val", "lr", "ms/iter");
  std::printf("%6d %8s %8.4f %10.2e\n", 0, "", gpt::mean_loss(model, validation), trainer.optimizer->learning_rate(0));
  double train_sum = 0, ms = 0;
  for (int64_t it = 1; it <= recipe.max_iters; ++it) {
    auto start = std::chrono::steady_clock::now();
    train_sum += trainer.step();  // forward, backward, clip, update (gpt.hpp: Trainer::step)
    ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (it % every == 0) {
      std::printf("%6lld %8.4f %8.4f %10.2e %10.1f ms/iter\n", static_cast<long long>(it), train_sum / static_cast<double>(every),
                  gpt::mean_loss(model, validation), trainer.optimizer->learning_rate(0), ms / static_cast<double>(every));
      std::fflush(stdout);
      train_sum = 0, ms = 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = MOMENTS_DATA_DIR;
  bool full = false;
  double temperature = 0.8;  // --temperature, --top-k: the sampling of part 4 (Try this)
  int top_k = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) full = true;
    else if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) data_dir = argv[++i];
    else if (std::strcmp(argv[i], "--temperature") == 0 && i + 1 < argc) temperature = std::atof(argv[++i]);
    else if (std::strcmp(argv[i], "--top-k") == 0 && i + 1 < argc) top_k = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: 22_char_gpt [--full] [--data DIR] [--temperature T] [--top-k K]\n");
      return 2;
    }
  }

  // ---- 1. The corpus ----
  CharCorpus text = load_char_corpus(data_dir + "/tinyshakespeare.txt");
  std::printf("1. Tiny Shakespeare: %zu characters, %lld distinct; %zu for training, %zu for validation\n",
              text.train.size() + text.validation.size(), static_cast<long long>(text.vocab_size()), text.train.size(),
              text.validation.size());
  std::printf("   vocabulary: \"%s\"\n", visible(text.vocabulary).c_str());
  std::printf("   the first window and its targets, one character later:\n");
  TokenBatch first = windows_at(text.train, {0}, 32);
  std::printf("   x = \"%s\"\n   y = \"%s\"\n", visible(text.decode(first.inputs)).c_str(), visible(text.decode(first.targets)).c_str());
  statistics_baselines(text);

  // ---- 2. The recipe's model ----
  Generator init(1337);
  gpt::Gpt model(gpt::Config{.vocab_size = text.vocab_size()}, init);
  std::printf("2. nanoGPT's CPU recipe: 4 layers, 4 heads, width 128, context 64, no biases, tied output layer\n");
  list_parameters(model);

  gpt::Recipe recipe;
  std::vector<TokenBatch> validation;
  gpt::Gpt* trained = &model;
  gpt::Gpt small(gpt::Config{.vocab_size = text.vocab_size(), .block_size = 32, .n_layer = 2, .n_head = 2, .n_embd = 48}, init);
  if (full) {
    std::printf("\n3. The recipe: batch 12, AdamW lr 1e-3 (warmup 100, cosine to 1e-4 at 2000), beta2 0.99, clip 1.0\n");
    std::printf("   validation: the mean loss over 20 fixed batches of 12 windows\n");
    validation = gpt::fixed_windows(text.validation, 20, 12, 64, 2000);
    train(model, text, recipe, 250, validation);
  } else {
    // A smaller GPT of the same code (59K parameters), at a higher learning rate, for 300 iterations.
    recipe = {.max_iters = 300, .warmup_iters = 30, .lr_decay_iters = 300, .learning_rate = 1e-2, .min_lr = 1e-3};
    std::printf("\n3. A short run: 2 layers, 2 heads, width 48, context 32 (%lld parameters); batch 12, AdamW lr 1e-2\n",
                static_cast<long long>(small.non_embedding_parameter_count()));
    std::printf("   (warmup 30, cosine to 1e-3 at 300); validation: the mean loss over 8 fixed batches of 12 windows\n");
    validation = gpt::fixed_windows(text.validation, 8, 12, 32, 2000);
    train(small, text, recipe, 50, validation);
    trained = &small;
  }

  // ---- 4. Sampling ----
  Generator sampler(7);
  std::printf("\n4. 200 characters after \"\\n\", temperature %g, top-k %d, Generator(7):\n", temperature, top_k);
  std::printf("%s\n", gpt::generate(*trained, text, "\n", 200, temperature, top_k, sampler).c_str());
  return 0;
}
