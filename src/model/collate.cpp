#include "model/collate.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "core/error.h"

namespace adapterbias {

EncoderInput collate(const std::vector<const Encoding*>& batch, int64_t pad_token_id) {
  const int64_t B = static_cast<int64_t>(batch.size());
  int64_t T = 0;
  for (const Encoding* e : batch) T = std::max<int64_t>(T, static_cast<int64_t>(e->ids.size()));
  EncoderInput input;
  input.input_ids = at::full({B, T}, pad_token_id, at::kLong);
  input.token_type_ids = at::zeros({B, T}, at::kLong);
  input.attention_mask = at::zeros({B, T}, at::kLong);
  input.has_padding = false;
  auto ids = input.input_ids.accessor<int64_t, 2>();
  auto types = input.token_type_ids.accessor<int64_t, 2>();
  auto mask = input.attention_mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const Encoding& e = *batch[b];
    if (static_cast<int64_t>(e.ids.size()) < T) input.has_padding = true;
    for (size_t t = 0; t < e.ids.size(); ++t) {
      ids[b][t] = e.ids[t];
      types[b][t] = t < e.type_ids.size() ? e.type_ids[t] : 0;
      mask[b][t] = 1;
    }
  }
  return input;
}

EncoderInput collate_packed(const std::vector<const Encoding*>& batch) {
  const int64_t B = static_cast<int64_t>(batch.size());
  int64_t N = 0, T = 0;
  for (const Encoding* e : batch) {
    const auto n = static_cast<int64_t>(e->ids.size());
    if (n == 0) throw InputError("collate_packed: an empty sequence (every encoding has at least its special tokens)");
    N += n;
    T = std::max(T, n);
  }
  EncoderInput input;
  PackedSequences& packed = input.packed;
  input.input_ids = at::empty({N}, at::kLong);
  input.token_type_ids = at::empty({N}, at::kLong);
  packed.position_ids = at::empty({N}, at::kLong);
  packed.grid_index = at::empty({N}, at::kLong);
  packed.cu_seqlens = at::empty({B + 1}, at::kInt);
  packed.first_token = at::empty({B}, at::kLong);
  packed.grid_mask = at::zeros({B, 1, 1, T}, at::kBool);
  packed.max_length = T;
  int64_t* ids = input.input_ids.data_ptr<int64_t>();
  int64_t* types = input.token_type_ids.data_ptr<int64_t>();
  int64_t* positions = packed.position_ids.data_ptr<int64_t>();
  int64_t* cells = packed.grid_index.data_ptr<int64_t>();
  int32_t* cu = packed.cu_seqlens.data_ptr<int32_t>();
  int64_t* first = packed.first_token.data_ptr<int64_t>();
  bool* mask = packed.grid_mask.data_ptr<bool>();
  int64_t row = 0;
  for (int64_t b = 0; b < B; ++b) {
    const Encoding& e = *batch[b];
    cu[b] = static_cast<int32_t>(row);
    first[b] = row;
    for (size_t t = 0; t < e.ids.size(); ++t, ++row) {
      ids[row] = e.ids[t];
      types[row] = t < e.type_ids.size() ? e.type_ids[t] : 0;
      positions[row] = static_cast<int64_t>(t);
      cells[row] = b * T + static_cast<int64_t>(t);
      mask[b * T + static_cast<int64_t>(t)] = true;
    }
  }
  cu[B] = static_cast<int32_t>(row);
  return input;
}

EncoderInput collate(const std::vector<const Encoding*>& batch, int64_t pad_token_id, BatchLayout layout) {
  return layout == BatchLayout::packed ? collate_packed(batch) : collate(batch, pad_token_id);
}

EncoderInput widen_packed(const EncoderInput& input, int64_t filler_rows, int64_t grid_length) {
  TORCH_CHECK(input.is_packed() && filler_rows >= 0 && grid_length >= input.packed.max_length,
              "widen_packed: a packed input, filler_rows >= 0 and grid_length >= max_length");
  EncoderInput out = input;
  PackedSequences& packed = out.packed;
  const int64_t T = input.packed.max_length;
  if (grid_length > T) {
    // Cell b * T + t moves to b * grid_length + t.
    auto widen = [&](const at::Tensor& cells) { return cells + cells.div(T, "floor") * (grid_length - T); };
    packed.grid_index = widen(input.packed.grid_index);
    const int64_t B = input.packed.first_token.size(0);
    packed.grid_mask = at::zeros({B, 1, 1, grid_length}, input.packed.grid_mask.options());
    packed.grid_mask.narrow(3, 0, T).copy_(input.packed.grid_mask);
    packed.max_length = grid_length;
  }
  if (filler_rows > 0) {
    auto extend = [&](const at::Tensor& t) { return at::cat({t, at::zeros({filler_rows}, t.options())}); };
    out.input_ids = extend(input.input_ids);
    if (input.token_type_ids.defined()) out.token_type_ids = extend(input.token_type_ids);
    packed.position_ids = extend(input.packed.position_ids);
  }
  return out;
}

}  // namespace adapterbias
