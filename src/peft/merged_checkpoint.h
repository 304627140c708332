// Folding a mergeable adapter into its backbone and writing a Hugging Face checkpoint folder (config.json,
// model.safetensors, tokenizer files), as `adapterbias merge` and the Python package's TaskModel.merge do.
//
// AdapterBias folds exactly: alpha * v = v (w.h + b), so W2' = W2 + v w^T and b2' = b2 + v b for every layer's
// FFN output projection; the trained LayerNorms are already in the backbone once the adapter is loaded.
// BERT is written as BertForSequenceClassification ("bert." keys + "classifier.*"), so that
// AutoModelForSequenceClassification gives our logits. RoBERTa is written as RobertaModel keys plus
// "classifier.*": RobertaForSequenceClassification's head (dense-tanh-out on <s>) is not ours (the pooler, then
// one Linear), so the head must be applied by hand (docs/adapter-format.md).
#pragma once
#include <filesystem>

#include <nlohmann/json.hpp>

#include "peft/adapter_file.h"

namespace adapterbias {

// Merges `loaded`'s method into its backbone (in place: the model is merged afterwards) and writes the folder
// `out`, each file atomically and config.json last. Checks that the logits on probe inputs agree within
// rounding. InputError when the method cannot be merged, `out` is the backbone's own folder or a file, or a file
// it would write exists and `overwrite` is false (checked before anything is written). Returns
// {out, architecture, tensors, parameters, tokenizer_files, max_abs_logit_diff}.
nlohmann::ordered_json write_merged_checkpoint(LoadedAdapter& loaded, const std::filesystem::path& out,
                                               bool overwrite = false);

}  // namespace adapterbias
