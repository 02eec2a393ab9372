// dist/zero.cpp — the partition, the sharded step, and the gathering of the pieces' state.
#include "zero.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <span>
#include <sstream>

#include "../autograd.hpp"
#include "../error.hpp"
#include "data_parallel.hpp"
#include "staging.hpp"

namespace moments {
namespace {

const char* partition_name(ZeroPartition p) {
  switch (p) {
    case ZeroPartition::automatic: return "automatic";
    case ZeroPartition::flat: return "flat";
    case ZeroPartition::whole_tensors: return "whole_tensors";
  }
  return "?";
}

// The flat partition: rank r owns shard_range(Ψ, N, r) of the stream, cut at the tensors' edges.
std::vector<std::vector<ZeroOptimizer::Piece>> flat_layout(const std::vector<Tensor>& params, int64_t total, int ranks) {
  std::vector<std::vector<ZeroOptimizer::Piece>> layout(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    const Range mine = shard_range(total, ranks, r);
    int64_t start = 0;  // where params[i] begins in the stream
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t lo = std::max(mine.begin, start), hi = std::min(mine.end, start + params[i].numel());
      if (lo < hi) layout[static_cast<size_t>(r)].push_back({i, lo - start, hi - start});
      start += params[i].numel();
    }
  }
  return layout;
}

// The whole-tensor partition: largest tensor first to the rank with the fewest elements so far.
std::vector<std::vector<ZeroOptimizer::Piece>> whole_layout(const std::vector<Tensor>& params, int ranks) {
  std::vector<size_t> order(params.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return params[a].numel() > params[b].numel(); });
  std::vector<int64_t> load(static_cast<size_t>(ranks), 0);
  std::vector<int> owner(params.size());
  for (size_t i : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());  // the first of the least loaded
    owner[i] = r;
    load[static_cast<size_t>(r)] += params[i].numel();
  }
  std::vector<std::vector<ZeroOptimizer::Piece>> layout(static_cast<size_t>(ranks));
  for (size_t i = 0; i < params.size(); ++i) layout[static_cast<size_t>(owner[i])].push_back({i, 0, params[i].numel()});
  return layout;
}

// ---- one rank's piece states as bytes, for broadcast_bytes -------------------------------------------
// Per piece: has_state (u8); then step (i64), the scalars (count, then name and double each) and the
// buffers (count, then name, rank, dims and floats each). Names: length (u64) and characters.
class Writer {
 public:
  template <class T>
  void put(const T& value) {
    const auto* bytes = reinterpret_cast<const std::byte*>(&value);
    out_.insert(out_.end(), bytes, bytes + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    const auto* bytes = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), bytes, bytes + s.size());
  }
  void put_floats(const float* data, int64_t n) {
    const auto* bytes = reinterpret_cast<const std::byte*>(data);
    out_.insert(out_.end(), bytes, bytes + n * static_cast<int64_t>(sizeof(float)));
  }
  std::vector<std::byte>& bytes() { return out_; }

 private:
  std::vector<std::byte> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string get_string() {
    const auto n = get<uint64_t>();
    const std::byte* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  void get_floats(float* data, int64_t n) { std::memcpy(data, take(static_cast<size_t>(n) * sizeof(float)), static_cast<size_t>(n) * sizeof(float)); }

 private:
  const std::byte* take(size_t n) {
    if (n > in_.size() - at_) fail("ZeroOptimizer: a rank's serialized state ends early (", in_.size(), " bytes)");
    const std::byte* p = in_.data() + at_;
    at_ += n;
    return p;
  }
  std::span<const std::byte> in_;
  size_t at_ = 0;
};

void write_state(Writer& w, const ParamState* state) {
  w.put<uint8_t>(state ? 1 : 0);
  if (!state) return;
  w.put<int64_t>(state->step);
  w.put<uint64_t>(state->scalars.size());
  for (const auto& [name, value] : state->scalars) {
    w.put_string(name);
    w.put<double>(value);
  }
  w.put<uint64_t>(state->buffers.size());
  for (const auto& [name, buffer] : state->buffers) {
    w.put_string(name);
    w.put<uint64_t>(buffer.shape().size());
    for (int64_t d : buffer.shape()) w.put<int64_t>(d);
    if (buffer.device() == Device::cpu) {
      w.put_floats(buffer.data(), buffer.numel());
    } else {
      const std::vector<float> host = buffer.to_vector();  // a cuda buffer, through the host
      w.put_floats(host.data(), buffer.numel());
    }
  }
}

std::optional<ParamState> read_state(Reader& r) {
  if (r.get<uint8_t>() == 0) return std::nullopt;
  ParamState s;
  s.step = r.get<int64_t>();
  const auto scalars = r.get<uint64_t>();
  for (uint64_t k = 0; k < scalars; ++k) {
    std::string name = r.get_string();
    s.scalars[name] = r.get<double>();
  }
  const auto buffers = r.get<uint64_t>();
  for (uint64_t k = 0; k < buffers; ++k) {
    std::string name = r.get_string();
    Shape shape(r.get<uint64_t>());
    for (int64_t& d : shape) d = r.get<int64_t>();
    Tensor t = Tensor::empty(shape, Device::cpu, "ZeroOptimizer::full_state_dict");
    r.get_floats(t.data(), t.numel());
    s.buffers.emplace(name, t);
  }
  return s;
}

// `bytes` from rank `root` to every rank: its length, then its contents.
void broadcast_blob(Communicator& comm, std::vector<std::byte>& bytes, int root) {
  uint64_t n = bytes.size();
  comm.broadcast_bytes(std::span<std::byte>(reinterpret_cast<std::byte*>(&n), sizeof n), root);
  bytes.resize(n);
  comm.broadcast_bytes(bytes, root);
}

}  // namespace

ZeroOptimizer::ZeroOptimizer(Communicator& comm, std::vector<Tensor> params, OptimizerFactory make, ZeroOptions options)
    : comm_(comm), params_(std::move(params)), make_(std::move(make)), options_(options) {
  if (options_.stage != 1 && options_.stage != 2) fail("ZeroOptimizer: stage ", options_.stage, " (expected 1 or 2)");
  if (options_.bucket_elements <= 0) fail("ZeroOptimizer: bucket_elements = ", options_.bucket_elements, " (expected > 0)");
  if (!make_) fail("ZeroOptimizer: no optimizer factory given");
  // The shape checks across the ranks and rank 0's weights everywhere: DataParallel's constructor (with a
  // one-float bucket, as it reduces nothing here).
  const DataParallel broadcast(comm_, params_, {.bucket_elements = 1});
  for (const Tensor& p : params_) total_ += p.numel();

  // Which partition the optimizer allows: asked of one built on the whole list (no state until a step).
  const std::unique_ptr<Optimizer> probe = make_full_optimizer();
  const Sharding sharding = probe->sharding();
  if (sharding == Sharding::none)
    fail("ZeroOptimizer: ", probe->name(), " needs every gradient of the model in each step (",
         probe->name() == "LAMB" ? "its global-norm clipping; max_grad_norm = inf switches it off" : "a global statistic",
         "), so no rank can step its shard alone");
  partition_ = options_.partition;
  if (partition_ == ZeroPartition::automatic)
    partition_ = sharding == Sharding::elements ? ZeroPartition::flat : ZeroPartition::whole_tensors;
  if (partition_ == ZeroPartition::flat && sharding != Sharding::elements)
    fail("ZeroOptimizer: ", probe->name(), " reads whole tensors (Optimizer::sharding), so its parameters cannot be cut ",
         "into flat slices; use ZeroPartition::whole_tensors (or automatic)");

  const int ranks = comm_.size();
  layout_ = partition_ == ZeroPartition::flat ? flat_layout(params_, total_, ranks) : whole_layout(params_, ranks);
  counts_.assign(static_cast<size_t>(ranks), 0);
  for (int r = 0; r < ranks; ++r)
    for (const Piece& piece : layout_[static_cast<size_t>(r)]) counts_[static_cast<size_t>(r)] += piece.end - piece.begin;
  for (int r = 0; r < ranks; ++r)
    if (counts_[static_cast<size_t>(r)] == 0)
      fail("ZeroOptimizer: rank ", r, " of ", ranks, " would own no parameters (", params_.size(), " tensors of ", total_,
           " elements, partition ", partition_name(partition_), "); run on fewer ranks");

  int64_t offset = 0;
  for (int r = 0; r < ranks; ++r) {
    rank_ranges_.push_back({offset, offset + counts_[static_cast<size_t>(r)]});
    for (const Piece& piece : layout_[static_cast<size_t>(r)]) {
      stream_.push_back({piece, offset});
      offset += piece.end - piece.begin;
    }
  }
  const int64_t chunk = std::max<int64_t>(1, options_.bucket_elements / ranks);  // per rank and bucket (see step)
  int64_t bucket = 0;
  for (int64_t count : counts_) bucket += std::min(chunk, count);
  bucket_.resize(static_cast<size_t>(bucket));
  shard_.resize(static_cast<size_t>(counts_[static_cast<size_t>(comm_.rank())]));

  NoGradGuard off;
  for (const Piece& piece : pieces()) {
    const Tensor& p = params_[piece.param];
    const bool whole = piece.begin == 0 && piece.end == p.numel();
    aliased_.push_back(whole);  // a whole tensor is stepped in place; a cut one through a copy of its slice
    pieces_.push_back(whole ? p : Tensor::empty({piece.end - piece.begin}, p.device(), "ZeroOptimizer").requires_grad_());
  }
  copy_pieces_from_parameters();
  optimizer_ = make_(pieces_);
  if (!optimizer_ || optimizer_->group_count() != 1)
    fail("ZeroOptimizer: the factory must build an optimizer with one parameter group");
}

std::unique_ptr<Optimizer> ZeroOptimizer::make_full_optimizer() const {
  std::unique_ptr<Optimizer> full = make_(params_);
  if (!full || full->group_count() != 1) fail("ZeroOptimizer: the factory must build an optimizer with one parameter group");
  return full;
}

void ZeroOptimizer::copy_pieces_from_parameters() {
  for (size_t k = 0; k < pieces_.size(); ++k) {
    if (aliased_[k]) continue;
    const Piece& piece = pieces()[k];
    std::vector<float> host(static_cast<size_t>(piece.end - piece.begin));  // through the host on either device
    dist_detail::read_elements(params_[piece.param], piece.begin, piece.end - piece.begin, host.data());
    dist_detail::write_elements(pieces_[k], 0, piece.end - piece.begin, host.data());
  }
}

Range ZeroOptimizer::shard(int64_t global_begin, int64_t global_end) const {
  if (global_begin < 0 || global_end < global_begin)
    fail("ZeroOptimizer::shard: rows [", global_begin, ", ", global_end, ") (expected 0 <= begin <= end)");
  Range mine = shard_range(global_end - global_begin, comm_.size(), comm_.rank());
  return {global_begin + mine.begin, global_begin + mine.end};
}

void ZeroOptimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

int64_t ZeroOptimizer::master_bytes() const {
  int64_t bytes = 0;
  for (size_t k = 0; k < pieces_.size(); ++k)
    if (!aliased_[k]) bytes += 4 * pieces_[k].numel();
  return bytes;
}

int64_t ZeroOptimizer::gradient_bytes() const {
  int64_t bytes = 0;
  for (const Tensor& p : params_)
    if (p.grad().defined()) bytes += 4 * p.numel();
  for (size_t k = 0; k < pieces_.size(); ++k)
    if (!aliased_[k] && pieces_[k].grad().defined()) bytes += 4 * pieces_[k].numel();
  return bytes;
}

void ZeroOptimizer::step(int64_t local_rows, int64_t global_rows) {
  if (global_rows <= 0 || local_rows < 0 || local_rows > global_rows)
    fail("ZeroOptimizer::step: local_rows ", local_rows, ", global_rows ", global_rows,
         " (expected 0 <= local_rows <= global_rows, global_rows > 0)");
  NoGradGuard off;
  for (const Slot& slot : stream_)
    if (!params_[slot.piece.param].grad().defined() && local_rows != 0)
      fail("ZeroOptimizer::step: parameter ", slot.piece.param, " has no gradient on rank ", comm_.rank(),
           " (run backward first; every parameter must take part in the loss)");
  const float weight = static_cast<float>(local_rows) / static_cast<float>(global_rows);  // n_r / B
  const int me = comm_.rank();
  const Range mine = rank_ranges_[static_cast<size_t>(me)];
  // The stream one bucket at a time. Bucket k holds the k-th chunk of every rank's slice, in rank order
  // (chunks of bucket_elements / N elements): each rank receives its part of every bucket, so the ranks
  // send and add in parallel. (Consecutive stretches of the stream would give the first buckets to rank 0
  // alone, and the collective would wait for it.) Segment: stream elements [lo, hi) at bucket offset `at`.
  struct Segment {
    int64_t lo, hi, at;
  };
  const int ranks = comm_.size();
  const int64_t chunk = std::max<int64_t>(1, options_.bucket_elements / ranks);
  const int64_t largest = *std::max_element(counts_.begin(), counts_.end());
  std::vector<int64_t> counts(static_cast<size_t>(ranks));
  std::vector<Segment> segments(static_cast<size_t>(ranks));
  auto for_each_bucket = [&](auto&& body) {
    for (int64_t first = 0; first < largest; first += chunk) {  // element `first` of each rank's slice
      int64_t size = 0;
      for (size_t r = 0; r < counts.size(); ++r) {
        const Range slice = rank_ranges_[r];
        const int64_t lo = slice.begin + std::min(first, slice.size()), hi = slice.begin + std::min(first + chunk, slice.size());
        segments[r] = {lo, hi, size};
        counts[r] = hi - lo;
        size += hi - lo;
      }
      const Segment& own = segments[static_cast<size_t>(me)];
      body(std::span<float>(bucket_.data(), static_cast<size_t>(size)),
           std::span<float>(shard_.data() + (own.lo - mine.begin), static_cast<size_t>(own.hi - own.lo)));
    }
  };
  // visit(slot, element of the parameter, bucket offset, count) for every part of the current bucket.
  auto for_each_part = [&](auto&& visit) {
    for (const Segment& seg : segments)
      for (const Slot& slot : stream_) {
        const int64_t begin = std::max(seg.lo, slot.offset), end = std::min(seg.hi, slot.offset + slot.piece.end - slot.piece.begin);
        if (begin < end) visit(slot, slot.piece.begin + (begin - slot.offset), seg.at + (begin - seg.lo), end - begin);
      }
  };
  for_each_bucket([&](std::span<float> bucket, std::span<float> my_part) {
    for_each_part([&](const Slot& slot, int64_t at, int64_t offset, int64_t n) {
      const Tensor g = params_[slot.piece.param].grad();
      float* to = bucket.data() + offset;
      if (!g.defined()) {  // a rank without rows adds zeros
        std::fill_n(to, n, 0.0f);
        return;
      }
      dist_detail::read_elements(g, at, n, to);  // a cuda gradient through the host
      for (int64_t k = 0; k < n; ++k) to[k] = weight * to[k];
    });
    if (options_.stage == 1) {
      comm_.all_reduce_sum(bucket);  // every rank: the whole averaged gradient, kept in the parameters' grad()
      for_each_part([&](const Slot& slot, int64_t at, int64_t offset, int64_t n) {
        Tensor& p = params_[slot.piece.param];
        if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), p.device()));
        Tensor g = p.grad();
        dist_detail::write_elements(g, at, n, bucket.data() + offset);
      });
      std::copy_n(bucket.data() + segments[static_cast<size_t>(me)].at, my_part.size(), my_part.data());
    } else {
      comm_.reduce_scatter_sum_uneven(bucket, my_part, counts);  // this rank's part of the bucket's sum only
    }
  });
  if (options_.stage == 2) zero_grad();  // stage 2 keeps no whole gradient
  // The shard's gradient into the pieces. At stage 1 a whole tensor's grad() already holds it (the same
  // bits: both come from the one all-reduced bucket).
  int64_t at = 0;
  for (size_t k = 0; k < pieces_.size(); ++k) {
    const int64_t n = pieces_[k].numel();
    if (!(aliased_[k] && options_.stage == 1)) {
      Tensor g = Tensor::empty(pieces_[k].shape(), pieces_[k].device(), "ZeroOptimizer::step");
      dist_detail::write_elements(g, 0, n, shard_.data() + at);
      pieces_[k].set_grad(g);
    }
    at += n;
  }
  optimizer_->step();  // this rank's shard
  at = 0;
  for (size_t k = 0; k < pieces_.size(); ++k) {
    dist_detail::read_elements(pieces_[k], 0, pieces_[k].numel(), shard_.data() + at);
    at += pieces_[k].numel();
    if (!(aliased_[k] && options_.stage == 1)) pieces_[k].zero_grad();  // stage 2 keeps no gradient
  }
  // Every rank's updated slice to every rank, bucket by bucket, into the parameters.
  for_each_bucket([&](std::span<float> bucket, std::span<float> my_part) {
    comm_.all_gather_uneven(my_part, bucket, counts);
    for_each_part([&](const Slot& slot, int64_t at_param, int64_t offset, int64_t n) {
      dist_detail::write_elements(params_[slot.piece.param], at_param, n, bucket.data() + offset);
    });
  });
}

StateDict ZeroOptimizer::full_state_dict() const {
  const int ranks = comm_.size();
  // Every rank's piece states, rank by rank, to every rank.
  std::vector<std::vector<std::optional<ParamState>>> states(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    Writer w;
    if (r == comm_.rank())
      for (const Tensor& piece : pieces_) write_state(w, optimizer_->state(piece));
    broadcast_blob(comm_, w.bytes(), r);
    Reader reader(w.bytes());
    for (size_t k = 0; k < layout_[static_cast<size_t>(r)].size(); ++k) states[static_cast<size_t>(r)].push_back(read_state(reader));
  }
  StateDict dict;
  dict.groups.push_back({optimizer_->state_dict().groups.at(0).hyperparameters, {}});
  for (size_t i = 0; i < params_.size(); ++i) dict.groups[0].params.push_back(static_cast<int64_t>(i));
  // Per parameter, its pieces in stream order (rank by rank, then by offset): at most one per rank.
  std::vector<std::vector<std::pair<const Piece*, const std::optional<ParamState>*>>> of(params_.size());
  for (int r = 0; r < ranks; ++r)
    for (size_t k = 0; k < layout_[static_cast<size_t>(r)].size(); ++k)
      of[layout_[static_cast<size_t>(r)][k].param].emplace_back(&layout_[static_cast<size_t>(r)][k], &states[static_cast<size_t>(r)][k]);
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& parts = of[i];
    const bool any = std::any_of(parts.begin(), parts.end(), [](const auto& part) { return part.second->has_value(); });
    if (!any) continue;  // not stepped yet
    const ParamState& first = **parts[0].second;
    for (const auto& [piece, state] : parts)
      if (!state->has_value() || (*state)->step != first.step || (*state)->scalars != first.scalars)
        fail("ZeroOptimizer::full_state_dict: the pieces of parameter ", i, " have different step counts or scalars");
    ParamState whole;
    whole.step = first.step;
    whole.scalars = first.scalars;
    const Device device = params_[i].device();  // the buffers go where the parameter is
    if (parts.size() == 1 && parts[0].first->begin == 0 && parts[0].first->end == params_[i].numel()) {
      for (const auto& [name, buffer] : first.buffers) whole.buffers.emplace(name, buffer.to(device));  // a whole tensor's, as they are
    } else {
      for (const auto& [name, buffer] : first.buffers) {
        Tensor full = Tensor::empty(params_[i].shape(), Device::cpu, "ZeroOptimizer::full_state_dict");
        for (const auto& [piece, state] : parts) {
          auto it = (*state)->buffers.find(name);
          if (it == (*state)->buffers.end() || it->second.numel() != piece->end - piece->begin)
            fail("ZeroOptimizer::full_state_dict: buffer '", name, "' of parameter ", i,
                 " is not one value per element in every piece (", optimizer_->name(), " with partition flat)");
          std::copy_n(it->second.data(), it->second.numel(), full.data() + piece->begin);
        }
        whole.buffers.emplace(name, full.to(device));
      }
    }
    dict.state.emplace(static_cast<int64_t>(i), std::move(whole));
  }
  return dict;
}

void ZeroOptimizer::load_full_state_dict(const StateDict& dict) {
  if (dict.groups.size() != 1 || dict.groups[0].params.size() != params_.size())
    fail("ZeroOptimizer::load_full_state_dict: expected one group of ", params_.size(), " parameters, got ", dict.groups.size(),
         " group(s)", dict.groups.empty() ? "" : " (the first of " + std::to_string(dict.groups[0].params.size()) + ")");
  StateDict local;
  local.groups.push_back({dict.groups[0].hyperparameters, {}});
  for (size_t k = 0; k < pieces_.size(); ++k) {
    local.groups[0].params.push_back(static_cast<int64_t>(k));
    const Piece& piece = pieces()[k];
    auto it = dict.state.find(dict.groups[0].params[piece.param]);
    if (it == dict.state.end()) continue;
    ParamState s;
    s.step = it->second.step;
    s.scalars = it->second.scalars;
    const int64_t n = params_[piece.param].numel();
    for (const auto& [name, buffer] : it->second.buffers) {
      const Device device = pieces_[k].device();
      if (piece.begin == 0 && piece.end == n) {
        s.buffers.emplace(name, buffer.device() == device ? buffer.clone() : buffer.to(device));
        continue;
      }
      if (buffer.numel() != n)
        fail("ZeroOptimizer::load_full_state_dict: buffer '", name, "' of parameter ", piece.param, " has ", buffer.numel(),
             " elements, not one per element of the parameter (", n, "), so it cannot be cut into this rank's slice");
      Tensor slice = Tensor::empty({piece.end - piece.begin}, Device::cpu, "ZeroOptimizer::load_full_state_dict");
      dist_detail::read_elements(buffer, piece.begin, piece.end - piece.begin, slice.data());
      s.buffers.emplace(name, slice.to(device));
    }
    local.state.emplace(static_cast<int64_t>(k), std::move(s));
  }
  optimizer_->load_state_dict(local);
  copy_pieces_from_parameters();
}

void save_checkpoint(const std::string& path, const Module& model, const ZeroOptimizer& optimizer,
                     const LrScheduler* schedule, const CheckpointInfo& info) {
  const StateDict full = optimizer.full_state_dict();  // collective: on every rank
  Communicator& comm = optimizer.communicator();
  std::string error;
  if (comm.rank() == 0) {
    try {
      std::unique_ptr<Optimizer> one = optimizer.make_full_optimizer();
      one->load_state_dict(full);
      save_checkpoint(path, model, *one, schedule, info);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(error.data()), reinterpret_cast<const std::byte*>(error.data()) + error.size());
  broadcast_blob(comm, bytes, 0);  // rank 0's outcome, so that every rank throws or none does
  if (!bytes.empty()) fail(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

CheckpointInfo load_checkpoint(const std::string& path, Module& model, ZeroOptimizer& optimizer, LrScheduler* schedule) {
  std::unique_ptr<Optimizer> one = optimizer.make_full_optimizer();
  CheckpointInfo info = load_checkpoint(path, model, *one, schedule);
  optimizer.load_full_state_dict(one->state_dict());
  return info;
}

}  // namespace moments
