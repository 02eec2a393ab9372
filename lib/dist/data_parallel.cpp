// dist/data_parallel.cpp — parameter broadcast, batch shards and bucketed gradient averaging.
#include "data_parallel.hpp"

#include <algorithm>
#include <string>

#include "../autograd.hpp"
#include "../error.hpp"
#include "staging.hpp"

namespace moments {

DataParallel::DataParallel(Communicator& comm, std::vector<Tensor> params, DataParallelOptions options)
    : comm_(comm), params_(std::move(params)), options_(options) {
  if (options_.bucket_elements <= 0)
    fail("DataParallel: bucket_elements = ", options_.bucket_elements, " (expected > 0)");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined()) fail("DataParallel: parameter ", i, " is an undefined tensor");
    total_ += params_[i].numel();
  }
  // The same parameter list everywhere: count and total size compared across the ranks (an all-reduce of
  // each rank's numbers against rank 0's broadcast ones would also do; two broadcasts are simpler to read).
  float shape_summary[2] = {static_cast<float>(params_.size()), static_cast<float>(total_)};
  float from_rank0[2] = {shape_summary[0], shape_summary[1]};
  comm_.broadcast(from_rank0, 0);
  if (from_rank0[0] != shape_summary[0] || from_rank0[1] != shape_summary[1])
    fail("DataParallel: rank ", comm_.rank(), " has ", params_.size(), " parameters of ", total_,
         " elements, rank 0 has ", from_rank0[0], " of ", from_rank0[1], " (every rank must build the same model)");
  bucket_.resize(static_cast<size_t>(std::min(options_.bucket_elements, total_)));
  broadcast_parameters();
}

void DataParallel::broadcast_parameters() {
  NoGradGuard off;
  std::vector<float> host;
  for (Tensor& p : params_) {
    if (p.device() == Device::cpu) {
      comm_.broadcast(std::span<float>(p.data(), static_cast<size_t>(p.numel())), 0);
      continue;
    }
    host.resize(static_cast<size_t>(p.numel()));  // a cuda tensor, through the host (staging.hpp)
    dist_detail::read_elements(p, 0, p.numel(), host.data());
    comm_.broadcast(host, 0);
    dist_detail::write_elements(p, 0, p.numel(), host.data());
  }
}

Range DataParallel::shard(int64_t global_begin, int64_t global_end) const {
  if (global_begin < 0 || global_end < global_begin)
    fail("DataParallel::shard: rows [", global_begin, ", ", global_end, ") (expected 0 <= begin <= end)");
  Range mine = shard_range(global_end - global_begin, comm_.size(), comm_.rank());
  return {global_begin + mine.begin, global_begin + mine.end};
}

void DataParallel::average_gradients(int64_t local_rows, int64_t global_rows) {
  if (global_rows <= 0 || local_rows < 0 || local_rows > global_rows)
    fail("DataParallel::average_gradients: local_rows ", local_rows, ", global_rows ", global_rows,
         " (expected 0 <= local_rows <= global_rows, global_rows > 0)");
  NoGradGuard off;
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) {
      if (local_rows != 0)
        fail("DataParallel::average_gradients: parameter ", i, " has no gradient on rank ", comm_.rank(),
             " (run backward first; every parameter must take part in the loss)");
      g = Tensor::zeros(params_[i].shape(), params_[i].device());
      params_[i].set_grad(g);
      g = params_[i].grad();
    }
    grads.push_back(g);
  }
  const float weight = static_cast<float>(local_rows) / static_cast<float>(global_rows);  // n_r / B
  // Walk the flat stream: element `offset` of it is element `offset − start(i)` of grads[i].
  for (int64_t begin = 0; begin < total_; begin += options_.bucket_elements) {
    const int64_t end = std::min(total_, begin + options_.bucket_elements);
    auto each = [&](auto&& visit) {  // visit(grad, its first element, bucket offset, count) over the bucket's pieces
      int64_t start = 0;
      for (Tensor& g : grads) {
        const int64_t lo = std::max(begin, start), hi = std::min(end, start + g.numel());
        if (lo < hi) visit(g, lo - start, lo - begin, hi - lo);
        start += g.numel();
      }
    };
    each([&](const Tensor& g, int64_t first, int64_t at, int64_t n) {
      float* to = bucket_.data() + at;
      dist_detail::read_elements(g, first, n, to);  // a cuda gradient through the host
      for (int64_t k = 0; k < n; ++k) to[k] = weight * to[k];
    });
    comm_.all_reduce_sum(std::span<float>(bucket_.data(), static_cast<size_t>(end - begin)));
    each([&](Tensor& g, int64_t first, int64_t at, int64_t n) { dist_detail::write_elements(g, first, n, bucket_.data() + at); });
  }
}

}  // namespace moments
