// adapterbias inspect FILE: what an adapter file holds, without loading a backbone: its metadata, every
// tensor with its shape and count, the trainable total and its share of the backbone, and the file size.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <ATen/core/Tensor.h>
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "peft/adapter_file.h"  // defines: read_adapter, AdapterInfo

namespace adapterbias::cli {
namespace {

struct InspectArgs {
  std::string file;
  bool json = false;
};

void run_inspect(const InspectArgs& args) {
  const AdapterFile adapter = read_adapter(args.file);
  const AdapterInfo& info = adapter.info;
  const auto file_bytes = std::filesystem::file_size(args.file);

  int64_t total = 0;
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const auto& [name, tensor] : adapter.tensors) {
    total += tensor.numel();
    tensors.push_back({{"name", name},
                       {"shape", tensor.sizes().vec()},
                       {"dtype", std::string(c10::toString(tensor.scalar_type()))},
                       {"count", tensor.numel()}});
  }
  const double share = info.backbone_parameters > 0 ? double(total) / double(info.backbone_parameters) : 0.0;

  if (args.json) {
    nlohmann::ordered_json out = {{"file", args.file},
                                  {"file_bytes", file_bytes},
                                  {"metadata", info.to_json()},
                                  {"tensors", tensors},
                                  {"trainable_parameters", total},
                                  {"backbone_parameters", info.backbone_parameters},
                                  {"trainable_share", share}};
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("adapter %s (%ju bytes)\n", args.file.c_str(), static_cast<uintmax_t>(file_bytes));
  std::printf("metadata:\n%s\n", info.to_json().dump(2).c_str());
  std::printf("tensors (%zu):\n", adapter.tensors.size());
  size_t width = 0;
  for (const auto& t : tensors) width = std::max(width, t["name"].get<std::string>().size());
  for (const auto& t : tensors) {
    const std::vector<int64_t> shape = t["shape"];
    std::printf("  %-*s  %-14s %10ld\n", static_cast<int>(width), t["name"].get<std::string>().c_str(),
                fmt::format("[{}]", fmt::join(shape, ", ")).c_str(), static_cast<long>(t["count"].get<int64_t>()));
  }
  std::printf("trainable params: %ld || backbone params: %ld || trainable/backbone: %.4f%%\n", static_cast<long>(total),
              static_cast<long>(info.backbone_parameters), 100.0 * share);
}

}  // namespace

void setup_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  auto* sub = app.add_subcommand("inspect", "Show an adapter file's metadata, tensors and sizes");
  sub->add_option("file", args->file, "Adapter file (.safetensors) written by `adapterbias train`")->required();
  sub->add_flag("--json", args->json, "Print one JSON document instead of the readable summary");
  sub->callback([args] { run_inspect(*args); });
}

}  // namespace adapterbias::cli
