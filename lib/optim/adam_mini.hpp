// optim/adam_mini.hpp — Adam-mini: Adam with one second moment per block of parameters.
//
// Y. Zhang, C. Chen, Z. Li, T. Ding, C. Wu, D. P. Kingma, Y. Ye, Z.-Q. Luo, R. Sun, "Adam-mini: Use Fewer
// Learning Rates To Gain More", 2024 (arXiv:2406.16793), Algorithm 1 (the general form); canonical code:
// github.com/zyushun/Adam-mini, adam_mini/adam_mini.py, version 1.1.1 (commit 57b7d1e, 2024-12-05; unchanged
// at the repository's head 402aadf, 2025-05-13).
//
//   Algorithm 1 (Adam-mini)                                   here (adam_mini_math.hpp)
//   --------------------------------------------------------  ----------------------------------------
//   partition the parameters into blocks b (Principle 1)      AdamMini::partition(): by name, see below
//   m ← 0 (per element), v_b ← 0 (one per block), t ← 0       exp_avg: param's shape; vmean: (blocks,)
//   for each step t ← t + 1, each block b with gradient g:
//     θ ← θ − α λ θ                                           decoupled decay (θ · (1 − αλ))
//     m ← (1 − β1) g + β1 m                                   lerp(m, g, 1 − β1)
//     v_b ← (1 − β2) mean_{i ∈ b}(g_i²) + β2 v_b              adam_mini_block_scale
//     m̂ ← m / (1 − β1^t),  v̂_b ← v_b / (1 − β2^t)
//     θ ← θ − α m̂ / (√v̂_b + ε)                               adam_mini_block_element
//
// THE PARTITION (the canonical code's, by lower-cased name; a rule matches when one of its names is a
// substring, and the first rule that matches wins, in this order):
//   adam       "bias"                                         full Adam: v per element (exp_avg_sq)
//   head       "k_proj" "q_proj" "wq" "wk" "query" "key"      one v per head: blocks of dim · dim / n_heads
//                                                             consecutive elements (a GQA key of
//                                                             n_kv_heads · head_dim rows gets n_kv_heads)
//   row        "embed" "embd" "wte" (embedding), "lm_head"    one v per output row (token or neuron) of
//              "output" "final_layer" (output), "v_proj" "wv" a [rows, cols] matrix
//              "value", "o_proj" "wo" "attn.proj",
//              "feed_forward" "linear" "mlp"
//   tensor     anything else (norms, ...)                     one v for the whole tensor
// Weight decay is skipped for names containing "norm", "ln" or "bias". moments' own MLP is named
// "layers.<i>.weight" / "layers.<i>.bias": its weights match no rule (one v per tensor) and its biases are
// full Adam, which is what the canonical code would do with those names.
//
// Why it matters: Adam keeps a learning rate per element; the paper argues (from the Hessian's near-block-
// diagonal structure) that one per dense Hessian block does as well. v then takes one float per row or head
// instead of one per element: the state falls from 2 floats per element to about 1 (tested: state_bytes).
//
// CONVENTIONS AND DEVIATIONS
//   - As the canonical code: ε outside the root, after bias correction (t from 1, per parameter); decoupled
//     decay θ ← θ(1 − αλ), multiplied by the learning rate, before the step; ε's default is the code's 1e-8
//     (its docstring says 1e-6); no maximize, no amsgrad. The rules are v1.1's: v1.0 kept embedding and output
//     as full Adam and one v per tensor for values, projections and MLPs. Full Adam for biases is the code's.
//   - Names: the lists are the model's (AdamMiniNames, the canonical defaults), not sets edited on the optimizer
//     after construction; nothing is printed: partition() shows what each name got.
//   - Rounding: Σ g² per block in double, in 8 fixed lanes (torch: float32 sums in its own order); m's lerp
//     unfused (torch's CPU kernel fuses it into one FMA). Both stay within the golden tolerance (atol 1e-7,
//     rtol 1e-6 over 30 steps).
//   - Errors here where the canonical code crashes, reshapes silently or checks less: a row-rule name on a
//     tensor that is not a matrix; a q/k tensor whose size is not a multiple of dim·dim/n_heads; dim not a
//     multiple of n_heads (the code asserts only dim² mod n_heads = 0); n_heads not a multiple of n_kv_heads
//     (the code's assert); a negative ε; NaN in any hyperparameter.
//   - Groups: the canonical code makes one group per parameter; here the constructor makes one group and
//     add_param_group(named, ...) adds more; a decay-exempt name never decays, whatever its group's λ.
//   - A parameter without a gradient is skipped (the canonical code still creates a per-tensor block's state);
//     one process, so no all_reduce of a sharded block's Σ g².
//   - State: exp_avg (m, per element), and vmean (v_b, one per block) or exp_avg_sq (v, per element, Adam rule).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "../nn.hpp"  // NamedTensors
#include "optimizer.hpp"

namespace moments {

struct AdamMiniOptions {
  double learning_rate = 1e-3;  // α
  double beta1 = 0.9;           // β1, first-moment decay
  double beta2 = 0.999;         // β2, second-moment decay
  double eps = 1e-8;            // ε, added to √v̂
  double weight_decay = 0.0;    // λ, decoupled: θ ← θ(1 − αλ)
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay);
  }
};

// The name patterns (substrings of the lower-cased name), with the canonical code's defaults.
struct AdamMiniNames {
  std::vector<std::string> embd = {"embed", "embd", "wte"};                          // row: one v per token
  std::vector<std::string> output = {"lm_head", "output", "final_layer"};            // row: one v per token
  std::vector<std::string> wqk = {"k_proj", "q_proj", "wq", "wk", "query", "key"};  // head
  std::vector<std::string> wv = {"v_proj", "wv", "value"};                           // row: one v per neuron
  std::vector<std::string> attn_proj = {"o_proj", "wo", "attn.proj"};                // row
  std::vector<std::string> mlp = {"feed_forward", "linear", "mlp"};                  // row
  std::vector<std::string> adam_block = {"bias"};                                    // full Adam
  std::vector<std::string> no_decay = {"norm", "ln", "bias"};                        // weight decay 0
};

// What the model tells the optimizer: its width and heads (canonical defaults), and the names.
struct AdamMiniModel {
  int64_t dim = 2048;      // d, the hidden width
  int64_t n_heads = 32;    // heads of the query
  int64_t n_kv_heads = 0;  // heads of key and value (grouped-query attention); 0: n_heads
  AdamMiniNames names = AdamMiniNames();  // (not `= {}`: that trips an internal error of g++ 12 in generic lambdas)
};

enum class AdamMiniRule { adam, head, row, tensor };
const char* rule_name(AdamMiniRule rule);  // "adam", "head", "row", "tensor"

// One parameter's partition: `blocks` blocks of `block_size` consecutive elements (the Adam rule: one block
// per element), and the name list that chose the rule ("embd", ..., "adam_block"; "" for the tensor rule).
struct AdamMiniBlocks {
  std::string name;  // as given
  Shape shape;
  AdamMiniRule rule;
  std::string matched;
  int64_t blocks, block_size;
  bool decays;  // false for the no_decay names
};

class AdamMini : public OptimizerWith<AdamMiniOptions> {
 public:
  // Parameters that do not require a gradient are left out, as the canonical code does.
  explicit AdamMini(const NamedTensors& named_parameters, AdamMiniOptions options = {}, AdamMiniModel model = {});
  std::string name() const override { return "AdamMini"; }

  // Another group, named like the constructor's (the base's unnamed add_param_group is hidden: every
  // parameter needs its name). Options replaced as OptimizerWith's overloads do.
  void add_param_group(const NamedTensors& named, AdamMiniOptions options);
  void add_param_group(const NamedTensors& named, const std::map<std::string, double>& overrides = {});

  const AdamMiniBlocks& blocks(const Tensor& param) const;  // throws for a parameter not optimized here
  std::vector<AdamMiniBlocks> partition() const;            // every parameter, in order
  const AdamMiniModel& model() const { return model_; }

 protected:
  void validate(const AdamMiniOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  // The partitions of `named` (checked: nothing is kept on error) and their tensors.
  std::vector<AdamMiniBlocks> classify(const NamedTensors& named, std::vector<Tensor>& tensors) const;
  void keep(const std::vector<AdamMiniBlocks>& parts, const std::vector<Tensor>& tensors);

  AdamMiniModel model_;
  std::vector<double> sums_;  // scratch of update(): Σ g² per block (kept, so steady steps do not allocate)
  std::vector<float> scale_;  // scratch of update(): (1/(1 − β1^t)) / (√v̂_b + ε) per block
  std::unordered_map<const TensorImpl*, size_t> index_;  // parameter → its entry in partition_
  std::vector<AdamMiniBlocks> partition_;
};

}  // namespace moments
