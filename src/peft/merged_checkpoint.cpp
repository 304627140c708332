#include "peft/merged_checkpoint.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/io.h"            // defines: read_file, write_file_atomic
#include "core/safetensors.h"   // defines: save_safetensors
#include "model/collate.h"      // defines: collate

namespace adapterbias {
namespace {

// Tokenizer files a checkpoint folder may carry; each is copied when present.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                                           "merges.txt", "special_tokens_map.json", "added_tokens.json"};

// The largest tolerated difference between the logits before and after merging on the probe inputs: the
// fold changes only the order of fp32 additions, so anything beyond rounding is a bug.
constexpr double kMergeTolerance = 1e-4;

// The source config.json with the architecture and label fields transformers reads for a classifier.
nlohmann::ordered_json merged_config(const Pretrained& pretrained, const AdapterInfo& info,
                                     const std::string& adapter_path) {
  const auto path = pretrained.dir / "config.json";
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
  config["architectures"] = {pretrained.config.is_roberta() ? "RobertaModel" : "BertForSequenceClassification"};
  nlohmann::ordered_json id2label = nlohmann::ordered_json::object(), label2id = nlohmann::ordered_json::object();
  if (info.regression) {
    id2label["0"] = "LABEL_0";
    label2id["LABEL_0"] = 0;
  } else {
    for (size_t i = 0; i < info.labels.size(); ++i) {
      id2label[std::to_string(i)] = info.labels[i];
      label2id[info.labels[i]] = i;
    }
  }
  config["id2label"] = id2label;
  config["label2id"] = label2id;
  config["problem_type"] = info.regression ? "regression" : "single_label_classification";
  config["adapterbias"] = {{"merged_from", adapter_path},
                           {"task", info.task},
                           {"method", info.method},
                           {"method_options", info.method_options}};
  return config;
}

}  // namespace

nlohmann::ordered_json write_merged_checkpoint(LoadedAdapter& loaded, const std::filesystem::path& out,
                                               bool overwrite) {
  const AdapterInfo& info = loaded.info();
  const std::string adapter_path = loaded.path.string();
  if (!loaded.model.method->mergeable())
    throw InputError(fmt::format("{}: method '{}' cannot be merged into the backbone; serve it as an adapter instead",
                                 adapter_path, info.method));
  if (info.pooling != "pooler")  // *ForSequenceClassification's head reads the pooler, nothing else
    throw InputError(fmt::format("{}: its head reads the {} pooling, which a transformers sequence-classification "
                                 "checkpoint cannot express (its head reads the pooler); serve it as an adapter instead",
                                 adapter_path, info.pooling));
  const Pretrained& pretrained = loaded.pretrained;
  const Tokenizer* tokenizer = loaded.tokenizer.get();
  TaskModel& model = loaded.model;
  if (std::filesystem::exists(out) && std::filesystem::equivalent(out, pretrained.dir))
    throw InputError(fmt::format("--out {} is the backbone's own folder; choose another", out.string()));
  if (std::filesystem::exists(out) && !std::filesystem::is_directory(out))
    throw InputError(fmt::format("--out {}: is a file, expected a folder to write the checkpoint into", out.string()));
  std::vector<std::string> copied;
  for (const char* name : kTokenizerFiles)
    if (std::filesystem::exists(pretrained.dir / name)) copied.emplace_back(name);
  const std::vector<std::filesystem::path> inputs = {pretrained.dir, loaded.path};
  for (const std::string& name : copied) check_output_file(out / name, inputs, overwrite, "--out");
  for (const char* name : {"model.safetensors", "config.json"}) check_output_file(out / name, inputs, overwrite, "--out");

  // Probe: logits before and after the fold must agree.
  torch::NoGradGuard no_grad;
  const std::vector<Encoding> probe = {
      tokenizer->encode("the merged model gives the adapter's logits .", std::nullopt, {.max_length = 64}),
      tokenizer->encode("a second , shorter probe", std::string_view("with a pair"), {.max_length = 64})};
  const EncoderInput probe_input = collate({&probe[0], &probe[1]}, tokenizer->pad_token_id());
  const at::Tensor before = model.forward(probe_input);
  model.method->merge(model.backbone);
  const at::Tensor after = model.forward(probe_input);
  const double diff = (after - before).abs().max().item<double>();
  if (!(diff <= kMergeTolerance))
    throw Error(fmt::format("merging {} changed the logits by {:.3g} (tolerance {:g}): a bug in {}'s merge",
                            adapter_path, diff, kMergeTolerance, info.method));

  // Weights: the merged backbone under transformers' names, then the head.
  const std::string prefix = pretrained.config.is_roberta() ? "" : "bert.";
  NamedTensors tensors;
  for (const auto& item : model.backbone->named_parameters())
    tensors.emplace_back(prefix + item.key(), item.value().detach().to(at::kCPU, at::kFloat).contiguous());
  tensors.emplace_back("classifier.weight", model.classifier->weight.detach().contiguous());
  tensors.emplace_back("classifier.bias", model.classifier->bias.detach().contiguous());

  // Each file is written atomically; config.json goes last, so a folder with it is complete.
  save_safetensors(out / "model.safetensors", tensors, {{"format", "pt"}});
  for (const std::string& name : copied) write_file_atomic(out / name, read_file(pretrained.dir / name));
  const auto config = merged_config(pretrained, info, adapter_path);
  write_file_atomic(out / "config.json", config.dump(2) + "\n");

  int64_t parameters = 0;
  for (const auto& [name, tensor] : tensors) parameters += tensor.numel();
  nlohmann::ordered_json summary = {{"out", out.string()},
                                    {"architecture", config["architectures"][0]},
                                    {"tensors", tensors.size()},
                                    {"parameters", parameters},
                                    {"tokenizer_files", copied},
                                    {"max_abs_logit_diff", diff}};
  return summary;
}

}  // namespace adapterbias
