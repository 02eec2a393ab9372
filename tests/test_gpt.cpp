// Suite `gpt`: the character corpus reader (data/datasets.hpp) on Tiny Shakespeare and on bad files, and
// tutorial 22's GPT (tutorials/22_char_gpt/gpt.hpp): nanoGPT's parameter count and names, causality,
// weight tying, the recipe's schedule and parameter groups, the model and loop against PyTorch's iteration by
// iteration (tests/reference/make_gpt_golden.py), sampling, and a checkpointed run that resumes bit for bit.
// The model tests use a tiny configuration so they stay fast under sanitizers.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../tutorials/22_char_gpt/gpt.hpp"
#include "../tutorials/22_char_gpt/shootout.hpp"
#include "../cuda/backend.hpp"
#include "io/checkpoint.hpp"
#include "reference/gpt_golden.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_error;

namespace {

const std::string kShakespeare = MOMENTS_DATA_DIR "/tinyshakespeare.txt";

std::string temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// The shared corpus, read once (1 MB).
const CharCorpus& shakespeare() {
  static const CharCorpus corpus = load_char_corpus(kShakespeare);
  return corpus;
}

// A GPT small enough for a sanitizer build: 2 layers, 2 heads, width 16, context 8.
gpt::Config tiny_config() { return {.vocab_size = 65, .block_size = 8, .n_layer = 2, .n_head = 2, .n_embd = 16}; }

std::vector<float> all_values(const Module& model) {
  std::vector<float> out;
  for (const auto& [name, p] : model.named_parameters()) {
    std::vector<float> v = p.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("Tiny Shakespeare splits as nanoGPT's prepare.py: 65 characters, 1,003,854 / 111,540 ids") {
  const CharCorpus& text = shakespeare();
  CHECK(text.vocabulary == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");  // prepare.py's print
  CHECK(text.vocab_size() == 65);
  CHECK(text.train.size() == 1003854);
  CHECK(text.validation.size() == 111540);
  CHECK(text.decode({text.train.begin(), text.train.begin() + 14}) == "First Citizen:");
  CHECK(text.encode("First") == std::vector<int64_t>(text.train.begin(), text.train.begin() + 5));
  check_error([&] { text.encode("caf\xc3\xa9"); }, {"CharCorpus::encode", "195", "offset 3"});
  check_error([&] { text.decode({3, 65}); }, {"CharCorpus::decode", "id 65", "index 1", "[0, 65)"});
}

TEST_CASE("a missing, empty, too short or non-ASCII text is refused by name") {
  check_error([] { load_char_corpus("/nonexistent/input.txt"); }, {"load_char_corpus", "/nonexistent/input.txt"});
  std::string path = temp_path("moments_test_corpus.txt");
  write_file(path, "");
  check_error([&] { load_char_corpus(path); }, {path, "0 characters", "at least 2"});
  write_file(path, "abcdefghi");  // int(9 · 0.9) = 8: one validation character is no window
  check_error([&] { load_char_corpus(path); }, {path, "8 training and 1 validation"});
  write_file(path, "ab\ncd\xe2\x80\x99s");  // a UTF-8 apostrophe on line 2
  check_error([&] { load_char_corpus(path); }, {path + ":2", "byte 226", "offset 5", "ASCII"});
  write_file(path, std::string("ab\0cd", 5));
  check_error([&] { load_char_corpus(path); }, {path + ":1", "byte 0", "offset 2"});
  write_file(path, "0123456789abcdefghij");
  check_error([&] { load_char_corpus(path, 1.0); }, {"train_fraction 1"});
  CharCorpus small = load_char_corpus(path);  // 20 characters: 18 and 2
  CHECK(small.train.size() == 18);
  CHECK(small.validation == std::vector<int64_t>{small.encode("ij")});
  std::filesystem::remove(path);
}

TEST_CASE("windows: targets are the inputs one place later, offsets in range, fixed by the seed") {
  const std::vector<int64_t> ids = shakespeare().validation;
  Generator a(5), b(5);
  TokenBatch x = sample_windows(ids, 12, 64, a), y = sample_windows(ids, 12, 64, b);
  CHECK(x.inputs == y.inputs);
  REQUIRE(x.inputs.size() == 12 * 64);
  for (int64_t r = 0; r < 12; ++r)
    for (int64_t t = 0; t + 1 < 64; ++t) CHECK(x.targets[static_cast<size_t>(r * 64 + t)] == x.inputs[static_cast<size_t>(r * 64 + t + 1)]);
  TokenBatch z = sample_windows(ids, 12, 64, a);  // the generator moved on: other windows
  CHECK(z.inputs != x.inputs);
  TokenBatch w = windows_at(ids, {0, static_cast<int64_t>(ids.size()) - 65}, 64);
  CHECK(w.targets.back() == ids.back());  // the last window ends at the last id
  check_error([&] { windows_at(ids, {static_cast<int64_t>(ids.size()) - 64}, 64); }, {"windows_at", "offset 111476"});
  check_error([&] { sample_windows({1, 2, 3}, 2, 3, a); }, {"sample_windows", "block 3", "3 ids"});
  std::vector<TokenBatch> all = gpt::all_windows(ids, 12, 64);  // every id predicted once
  REQUIRE(all.size() == 146);                                    // 1,742 windows: 145 batches of 12 and one of 2
  CHECK(all.back().batch == 2);
  CHECK(all.back().targets.back() == ids[1742 * 64]);
  CHECK(all[1].inputs.front() == ids[12 * 64]);
}

TEST_CASE("the recipe's GPT has nanoGPT's 0.80M parameters, names and initialisation") {
  Generator gen(0);
  gpt::Gpt model(gpt::Config{}, gen);
  CHECK(model.parameter_count() == 804096);                // wte 8,320 + wpe 8,192 + 4 · 196,864 + ln_f 128
  CHECK(model.non_embedding_parameter_count() == 795904);  // get_num_params(): without wpe
  char printed[32];
  std::snprintf(printed, sizeof printed, "%.2fM", static_cast<double>(model.non_embedding_parameter_count()) / 1e6);
  CHECK(std::string(printed) == "0.80M");  // model.py: "number of parameters: 0.80M"
  NamedTensors named = model.named_parameters();
  REQUIRE(named.size() == 2 + 4 * 6 + 1);
  CHECK(named[0].first == "transformer.wte.weight");
  CHECK(named[4].first == "transformer.h.0.attn.c_proj.weight");
  CHECK(named.back().first == "transformer.ln_f.weight");
  auto std_of = [](const Tensor& t) {
    double s = 0;
    for (float v : t.to_vector()) s += static_cast<double>(v) * v;
    return std::sqrt(s / static_cast<double>(t.numel()));
  };
  CHECK(std_of(model.h[0].c_fc) == doctest::Approx(0.02).epsilon(0.02));
  CHECK(std_of(model.h[0].attn_proj) == doctest::Approx(0.02 / std::sqrt(8.0)).epsilon(0.03));  // 0.02/√(2·n_layer)
  CHECK(std_of(model.h[3].mlp_proj) == doctest::Approx(0.02 / std::sqrt(8.0)).epsilon(0.03));
  CHECK(model.ln_f.to_vector() == std::vector<float>(128, 1.0f));
}

TEST_CASE("the GPT is causal, its output layer is the token embedding, and an untrained one is uniform") {
  Generator gen(1);
  gpt::Gpt model(tiny_config(), gen);
  std::vector<int64_t> ids = shakespeare().encode("To be, o"), other = ids;
  other[5] = shakespeare().encode("Q")[0];  // change position 5: positions 0..4 must not see it
  std::vector<float> a = model.logits(ids, 1, 8).to_vector(), b = model.logits(other, 1, 8).to_vector();
  CHECK(std::equal(a.begin(), a.begin() + 5 * 65, b.begin()));
  CHECK(!std::equal(a.begin() + 5 * 65, a.begin() + 6 * 65, b.begin() + 5 * 65));
  // loss ≈ ln 65 at N(0, 0.02) weights; backward reaches wte through the embedding and the output layer.
  TokenBatch batch = windows_at(shakespeare().train, {0, 100, 200}, 8);
  Tensor loss = model.loss(batch);
  CHECK(loss.item() == doctest::Approx(std::log(65.0)).epsilon(0.01));
  loss.backward();
  REQUIRE(model.wte.grad().defined());
  std::vector<float> g = model.wte.grad().to_vector();
  const int64_t unused = shakespeare().encode("$")[0];  // no '$' in these windows: its row's gradient comes
  double row = 0;                                        // from the output layer alone, and is not zero
  for (int64_t c = 0; c < 16; ++c) row += std::fabs(g[static_cast<size_t>(unused * 16 + c)]);
  CHECK(row > 0);
  check_error([&] { model.logits(std::vector<int64_t>(9, 0), 1, 9); }, {"Gpt", "length 9", "1..8"});
  CHECK(model.forward(Tensor::from({1, 2, 3}, {1, 3})).shape() == Shape{1, 3, 65});  // Module's form: float ids
  check_error([&] { model.forward(Tensor::from({1, 2.5f}, {1, 2})); }, {"Gpt::forward", "2.5", "index 1"});
  check_error([&] { model.forward(Tensor::from({NAN}, {1, 1})); }, {"Gpt::forward", "nan"});
}

TEST_CASE("the recipe: nanoGPT's learning rates and two parameter groups, decay on 2-D tensors only") {
  gpt::Recipe r;
  gpt::Schedule f = gpt::nanogpt_schedule(r);
  CHECK(f(0) * r.learning_rate == doctest::Approx(1e-3 / 101));  // lr · (it + 1) / (warmup + 1)
  CHECK(f(99) * r.learning_rate == doctest::Approx(1e-3 * 100 / 101));
  CHECK(f(100) == doctest::Approx(1.0));
  CHECK(f(1050) * r.learning_rate == doctest::Approx(5.5e-4));  // half-way down the cosine
  CHECK(f(2000) * r.learning_rate == doctest::Approx(1e-4));
  CHECK(f(2500) * r.learning_rate == doctest::Approx(1e-4));
  Generator gen(0);
  gpt::Gpt model(tiny_config(), gen);
  std::unique_ptr<Optimizer> adamw = gpt::nanogpt_adamw(model, r);
  REQUIRE(adamw->group_count() == 2);
  CHECK(adamw->params(0).size() == 2 + 2 * 4);  // wte, wpe, 4 weights per block
  CHECK(adamw->params(1).size() == 2 * 2 + 1);  // the LayerNorm weights
  CHECK(adamw->hyperparameter(0, "weight_decay") == 0.1);
  CHECK(adamw->hyperparameter(1, "weight_decay") == 0.0);
  CHECK(adamw->hyperparameter(1, "beta2") == 0.99);
}

// PyTorch's run of the same model and loop (tests/reference/make_gpt_golden.py: nanoGPT's model.py and
// train.py restated with torch ops, torch.optim.AdamW, clip_grad_norm_) from the same weights on the same
// windows, both set by formulas instead of a shared generator: every iteration's loss and gradient norm.
TEST_CASE("the GPT and the recipe's loop match PyTorch's, iteration by iteration") {
  const gpt::Config config{.vocab_size = 11, .block_size = 8, .n_layer = 2, .n_head = 2, .n_embd = 16};
  Generator gen(0);
  gpt::Gpt model(config, gen);
  NamedTensors named = model.named_parameters();
  for (size_t k = 0; k < named.size(); ++k) {  // make_gpt_golden.py's weight()
    auto& [name, p] = named[k];
    const bool residual = name.size() > 13 && name.compare(name.size() - 13, 13, "c_proj.weight") == 0;
    const double scale = residual ? 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer)) : 0.02;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double base = std::sin(0.7 * static_cast<double>(i) + 1.1 * static_cast<double>(k) + 0.3);
      p.data()[i] = static_cast<float>(p.dim() == 1 ? 1.0 + 0.1 * base : scale * base);
    }
  }
  std::vector<int64_t> text;
  for (int64_t j = 0; j < 200; ++j) text.push_back((7 * j * j + 3 * j + j / 5) % 11);
  const gpt::Recipe recipe{.batch_size = 3, .max_iters = 20, .warmup_iters = 5, .lr_decay_iters = 20,
                           .learning_rate = 1e-2, .min_lr = 1e-3};  // betas (0.9, 0.99), decay 0.1, clip 1: the recipe's
  std::unique_ptr<Optimizer> adamw = gpt::nanogpt_adamw(model, recipe);
  LrScheduler schedule(*adamw, gpt::nanogpt_schedule(recipe));
  REQUIRE(golden::gpt_losses.size() == 20);
  // The largest relative differences in iterations 0-9 and 10-19: float rounding in another order (Eigen's
  // products, torch's), which Adam's normalization amplifies in the weights whose gradients are small.
  double loss_gap[2] = {0, 0}, norm_gap[2] = {0, 0};
  for (int64_t it = 0; it < recipe.max_iters; ++it) {
    std::vector<int64_t> offsets;
    for (int64_t b = 0; b < recipe.batch_size; ++b) offsets.push_back((13 * it + 29 * b) % (200 - config.block_size - 1));
    const TokenBatch batch = windows_at(text, offsets, config.block_size);
    adamw->zero_grad();
    Tensor loss = model.loss(batch);                                                    // forward
    loss.backward();                                                                    // backward
    const double norm = clip_grad_norm_tensor(adamw->all_params(), recipe.grad_clip).item();
    adamw->step();                                                                      // update
    schedule.step();
    const size_t i = static_cast<size_t>(it), half = i / 10;
    loss_gap[half] = std::max(loss_gap[half], std::fabs(loss.item() - golden::gpt_losses[i]) / golden::gpt_losses[i]);
    norm_gap[half] = std::max(norm_gap[half], std::fabs(norm - golden::gpt_grad_norms[i]) / golden::gpt_grad_norms[i]);
  }
  char report[160];
  std::snprintf(report, sizeof report, "largest relative difference from PyTorch: iterations 0-9 loss %.2g, gradient "
                "norm %.2g; 10-19: %.2g, %.2g", loss_gap[0], norm_gap[0], loss_gap[1], norm_gap[1]);
  MESSAGE(std::string(report));
  CHECK(loss_gap[0] < 1e-6);  // measured 2e-7
  CHECK(norm_gap[0] < 1e-5);  // 2.5e-6
  CHECK(loss_gap[1] < 2e-5);  // 5.2e-6
  CHECK(norm_gap[1] < 2e-3);  // 4.9e-4
}

TEST_CASE("a short run learns, samples are seeded, and a checkpointed run resumes bit for bit") {
  const CharCorpus& text = shakespeare();
  gpt::Recipe recipe{.max_iters = 12, .warmup_iters = 2, .lr_decay_iters = 12, .learning_rate = 1e-2, .min_lr = 1e-3};
  std::vector<TokenBatch> val = gpt::fixed_windows(text.validation, 2, 4, 8, 9);

  Generator gen_a(3);
  gpt::Gpt straight(tiny_config(), gen_a);
  gpt::Trainer a(straight, text, recipe);
  double before = gpt::mean_loss(straight, val);
  for (int i = 0; i < 12; ++i) a.step();
  CHECK(gpt::mean_loss(straight, val) < before - 0.5);

  Generator s1(4), s2(4);
  std::string sample = gpt::generate(straight, text, "\n", 20, 0.8, 5, s1);
  CHECK(sample.size() == 20);
  CHECK(sample == gpt::generate(straight, text, "\n", 20, 0.8, 5, s2));
  check_error([&] { gpt::generate(straight, text, "\n", 1, 0.0, 5, s1); }, {"generate", "temperature 0"});

  // The same run stopped after 5 iterations, saved, and continued by a fresh process's objects.
  std::string path = temp_path("moments_test_gpt.safetensors");
  {
    Generator gen(3);
    gpt::Gpt first(tiny_config(), gen);
    gpt::Trainer b(first, text, recipe);
    for (int i = 0; i < 5; ++i) b.step();
    save_checkpoint(path, first, *b.optimizer, &b.schedule, {.step = b.iteration});
  }
  Generator other(99);  // other initial weights: the checkpoint replaces them
  gpt::Gpt resumed(tiny_config(), other);
  gpt::Trainer c(resumed, text, recipe);
  CheckpointInfo info = load_checkpoint(path, resumed, *c.optimizer, &c.schedule);
  CHECK(info.step == 5);
  c.resume_at(info.step);
  for (int i = 5; i < 12; ++i) c.step();
  CHECK(same_bits(all_values(resumed), all_values(straight)));
  CHECK(c.optimizer->learning_rate(0) == a.optimizer->learning_rate(0));
  std::filesystem::remove(path);
}

TEST_CASE("with every optimizer of the shoot-out, a checkpointed run of the GPT resumes bit for bit") {
  const CharCorpus& text = shakespeare();
  const std::string path = temp_path("moments_test_gpt_shootout.safetensors");
  for (const gpt::Contender& c : gpt::contenders()) {
    INFO(c.name);
    gpt::Recipe recipe = gpt::recipe_for(c, c.lr * 3, 12);  // a warmup of 0 iterations and a cosine, or constant
    auto make = [&](const gpt::Gpt& m, const gpt::Recipe&) { return c.make(m, c.lr * 3); };
    Generator gen_a(5);
    gpt::Gpt straight(tiny_config(), gen_a);
    gpt::Trainer a(straight, text, recipe, make);
    for (int i = 0; i < 12; ++i) a.step();
    {
      Generator gen(5);
      gpt::Gpt first(tiny_config(), gen);
      gpt::Trainer b(first, text, recipe, make);
      for (int i = 0; i < 7; ++i) b.step();
      save_checkpoint(path, first, *b.optimizer, &b.schedule, {.step = b.iteration});
    }
    Generator other(98);
    gpt::Gpt resumed(tiny_config(), other);
    gpt::Trainer r(resumed, text, recipe, make);
    r.resume_at(load_checkpoint(path, resumed, *r.optimizer, &r.schedule).step);
    for (int i = 7; i < 12; ++i) r.step();
    CHECK(same_bits(all_values(resumed), all_values(straight)));
    CHECK(r.optimizer->state_bytes_total() == a.optimizer->state_bytes_total());
  }
  std::filesystem::remove(path);
}

TEST_CASE("the tiny GPT trains on Device::cuda (the GPU, or the CPU emulator) as on the CPU") {
  const bool emulation_was = cuda::emulation_enabled();
  if (!cuda::gpu_backend()) {
    if (!cuda::emulator_built()) {
      MESSAGE("neither a GPU nor the emulator in this build; skipping");
      return;
    }
    cuda::set_emulation(true);
  }
  const CharCorpus& text = shakespeare();
  gpt::Recipe recipe{.max_iters = 4, .warmup_iters = 1, .lr_decay_iters = 4, .learning_rate = 1e-2, .min_lr = 1e-3};
  Generator gen_cpu(6), gen_cuda(6);
  gpt::Gpt on_cpu(tiny_config(), gen_cpu), on_cuda(tiny_config(), gen_cuda);
  on_cuda.to(Device::cuda);
  REQUIRE(on_cuda.wte.device() == Device::cuda);
  gpt::Trainer cpu_run(on_cpu, text, recipe), cuda_run(on_cuda, text, recipe);
  for (int i = 0; i < 4; ++i) {
    float a = cpu_run.step(), b = cuda_run.step();
    INFO("iteration " << i);
    CHECK(b == doctest::Approx(a).epsilon(1e-4));  // the kernels sum in another order than Eigen
  }
  std::vector<float> a = all_values(on_cpu), b = all_values(on_cuda);
  testing::check_close(b, a, 1e-4f, 1e-3f, "the weights after 4 iterations");

  // A steady-state iteration (issue 23's counts): no cudaMalloc or cudaFree, and the host waits
  // for the device once, for the loss that step() returns; clipping stays on the device.
  cuda::Backend& device = cuda::active_backend();
  const cuda::Counters before = device.counters();
  cuda_run.step();
  const cuda::Counters used = device.counters() - before;
  CAPTURE(used.launches);
  CHECK(used.allocations == 0);
  CHECK(used.frees == 0);
  CHECK(used.copies_to_host == 1);
  CHECK(used.synchronizations == 1);
  CHECK(used.copies_to_device == 3);  // the batch's ids, its targets, the position ids
  cuda::set_emulation(emulation_was);
}
