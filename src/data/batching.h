// The batching plan: which examples go together in each batch, chosen from token lengths alone so that a batch
// holds examples of similar length and pads little. Deterministic for a seed on every platform: it uses the
// raw std::mt19937_64 stream (its output is fixed by the C++ standard) with its own Fisher-Yates shuffle,
// never std::shuffle or std::uniform_int_distribution, whose results differ between standard libraries.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace adapterbias {

using Batch = std::vector<int64_t>;  // example indices

struct BatchPlanOptions {
  int64_t batch_size = 32;
  // true (training): shuffle examples, sort by length inside chunks of `chunk_batches` batches, cut batches,
  // shuffle the batch order. false (evaluation): sort all examples by length, longest first (so that running
  // out of memory shows at once), ties by index; batches in that order.
  bool shuffle = true;
  uint64_t seed = 0;          // use (run seed, epoch) -> e.g. seed + epoch for a different order each epoch
  int64_t chunk_batches = 50;  // the bucket size in batches: larger pads less, smaller mixes more
  bool sort_by_length = true;  // false: batches of consecutive (or, with shuffle, shuffled) indices
};

// Every index 0..lengths.size()-1 appears in exactly one batch; all batches have batch_size examples except
// one smaller batch when the count is not a multiple. Throws InputError for batch_size or chunk_batches < 1.
std::vector<Batch> plan_batches(std::span<const int64_t> lengths, const BatchPlanOptions& options);

// Real tokens / padded tokens, where a batch pads every example to its longest one. 1.0 means no padding;
// 1.0 for an empty plan.
double padding_efficiency(std::span<const int64_t> lengths, std::span<const Batch> batches);

// A uniform integer in [0, n) from the raw engine output, by rejection (no modulo bias); n >= 1.
uint64_t uniform_below(std::mt19937_64& engine, uint64_t n);

// A seeded held-out split: which of n examples go to dev (round(fraction * n), at least 1 and at most n - 1)
// and which stay for training, each list in ascending order. InputError unless 0 < fraction < 1 and n >= 2.
struct HoldOut {
  std::vector<int64_t> train, dev;
};
HoldOut hold_out(int64_t n, double fraction, uint64_t seed);

// Fisher-Yates shuffle driven by uniform_below: the same permutation for the same engine state everywhere.
template <typename T>
void deterministic_shuffle(std::vector<T>& items, std::mt19937_64& engine) {
  for (size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<size_t>(uniform_below(engine, i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace adapterbias
