#include "model/collate.h"

#include <algorithm>

#include <ATen/ATen.h>

namespace adapterbias {

EncoderInput collate(const std::vector<const Encoding*>& batch, int64_t pad_token_id) {
  const int64_t B = static_cast<int64_t>(batch.size());
  int64_t T = 0;
  for (const Encoding* e : batch) T = std::max<int64_t>(T, static_cast<int64_t>(e->ids.size()));
  EncoderInput input;
  input.input_ids = at::full({B, T}, pad_token_id, at::kLong);
  input.token_type_ids = at::zeros({B, T}, at::kLong);
  input.attention_mask = at::zeros({B, T}, at::kLong);
  auto ids = input.input_ids.accessor<int64_t, 2>();
  auto types = input.token_type_ids.accessor<int64_t, 2>();
  auto mask = input.attention_mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const Encoding& e = *batch[b];
    for (size_t t = 0; t < e.ids.size(); ++t) {
      ids[b][t] = e.ids[t];
      types[b][t] = t < e.type_ids.size() ? e.type_ids[t] : 0;
      mask[b][t] = 1;
    }
  }
  return input;
}

}  // namespace adapterbias
