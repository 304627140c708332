#include "data/batching.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"

namespace adapterbias {

uint64_t uniform_below(std::mt19937_64& engine, uint64_t n) {
  // Reject the top partial copy of [0, n) in the 2^64 range; what is left is a whole number of copies.
  const uint64_t threshold = (0 - n) % n;  // == 2^64 mod n
  while (true) {
    const uint64_t r = engine();
    if (r >= threshold) return r % n;
  }
}

HoldOut hold_out(int64_t n, double fraction, uint64_t seed) {
  if (!(fraction > 0.0 && fraction < 1.0))
    throw InputError(fmt::format("--dev-fraction {}: expected a fraction strictly between 0 and 1", fraction));
  if (n < 2) throw InputError(fmt::format("--dev-fraction: {} training example(s) cannot be split", n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 engine(seed);
  deterministic_shuffle(order, engine);
  const auto dev_count = std::clamp<int64_t>(std::llround(fraction * static_cast<double>(n)), 1, n - 1);
  HoldOut split{{order.begin() + dev_count, order.end()}, {order.begin(), order.begin() + dev_count}};
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.dev.begin(), split.dev.end());
  return split;
}

std::vector<Batch> plan_batches(std::span<const int64_t> lengths, const BatchPlanOptions& options) {
  if (options.batch_size < 1)
    throw InputError(fmt::format("batch size: expected at least 1, found {}", options.batch_size));
  if (options.chunk_batches < 1)
    throw InputError(fmt::format("chunk_batches: expected at least 1, found {}", options.chunk_batches));
  const auto n = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 engine(options.seed);

  // Longest first; stable, so equal lengths keep their current (index or shuffled) order.
  const auto by_length = [&](auto begin, auto end) {
    std::stable_sort(begin, end, [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  };
  if (options.shuffle) {
    deterministic_shuffle(order, engine);
    if (options.sort_by_length) {
      const int64_t chunk = options.batch_size * options.chunk_batches;
      for (int64_t start = 0; start < n; start += chunk)
        by_length(order.begin() + start, order.begin() + std::min(n, start + chunk));
    }
  } else if (options.sort_by_length) {
    by_length(order.begin(), order.end());
  }

  std::vector<Batch> batches;
  batches.reserve(static_cast<size_t>((n + options.batch_size - 1) / options.batch_size));
  for (int64_t start = 0; start < n; start += options.batch_size)
    batches.emplace_back(order.begin() + start, order.begin() + std::min(n, start + options.batch_size));
  if (options.shuffle) deterministic_shuffle(batches, engine);
  return batches;
}

double padding_efficiency(std::span<const int64_t> lengths, std::span<const Batch> batches) {
  int64_t real = 0, padded = 0;
  for (const auto& batch : batches) {
    int64_t longest = 0;
    for (const int64_t i : batch) {
      real += lengths[i];
      longest = std::max(longest, lengths[i]);
    }
    padded += longest * static_cast<int64_t>(batch.size());
  }
  return padded == 0 ? 1.0 : static_cast<double>(real) / static_cast<double>(padded);
}

}  // namespace adapterbias
