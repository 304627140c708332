// adapterbias explain --model DIR --adapter FILE (--text T [--text-pair P] | --input FILE.jsonl)
//                     [--format json|html|svg] [--out PATH]
// What the AdapterBias shift does to each token of some inputs (analysis/token_shift.h, docs/explain.md):
//   json  per input: tokens with character offsets, the prediction, alpha / shift / relative shift per token
//         and layer and summed over layers, and the words merged from the pieces
//   html  one self-contained page: tokens coloured by total shift, a tokens x layers heatmap per input
//   svg   the tokens x layers heatmap of one input (--index)
#include <algorithm>
#include <cstdio>
#include <memory>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/explanation.h"    // defines: explanations_json, to_doubles
#include "analysis/report.h"       // defines: report::heatmap_svg, legend_svg, html_page, color, escape
#include "analysis/token_shift.h"  // defines: token_shifts, shift_vector_norms, merge_words
#include "cli/commands.h"
#include "cli/common.h"            // defines: apply_run_options
#include "core/error.h"
#include "core/io.h"               // defines: LineReader, where, write_file_atomic
#include "model/checkpoint.h"      // defines: load_pretrained
#include "peft/adapter_file.h"     // defines: read_adapter, load_adapter_model
#include "train/inference.h"       // defines: encode_examples

namespace adapterbias::cli {
namespace {

struct ExplainArgs {
  std::string model;
  std::string adapter;
  TextInputs inputs;
  DataSource columns;  // --text-column, --text-pair-column of --input
  std::string format = "json";
  std::string out;     // "" or "-": stdout
  int64_t index = 0;   // --format svg: which input
  int64_t batch_size = 32;
  int64_t max_length = 0;  // 0: the adapter's
  bool overwrite = false;
  RunArgs run;
};

std::string prediction_text(const AdapterInfo& info, const at::Tensor& logits) {
  if (info.regression) return fmt::format("score {:.3f}", logits[0].item<double>());
  const at::Tensor probs = at::softmax(logits.to(at::kDouble), 0);
  const int64_t id = logits.argmax().item<int64_t>();
  return fmt::format("label {} (p = {:.3f})", info.labels[id], probs[id].item<double>());
}

// Colour scale upper bounds over the content tokens (special tokens excluded, so that [CLS]/[SEP] do not
// wash out the sentence): the largest total shift, and the largest per-layer shift.
std::pair<double, double> scale_max(const std::vector<TokenShifts>& all) {
  double total = 0, layer = 0;
  for (const auto& s : all) {
    const at::Tensor content = at::tensor(std::vector<int64_t>(s.encoding.sequence_ids.begin(), s.encoding.sequence_ids.end())) >= 0;
    if (!content.any().item<bool>()) continue;
    const at::Tensor shift = s.shift.index({at::indexing::Slice(), content});  // (L, T_content)
    total = std::max(total, shift.sum(0).max().item<double>());
    layer = std::max(layer, shift.max().item<double>());
  }
  return {total > 0 ? total : 1.0, layer > 0 ? layer : 1.0};
}

std::string input_svg(const TokenShifts& s, double hi, const std::string& title) {
  std::vector<std::vector<double>> values;
  for (int64_t l = 0; l < s.shift.size(0); ++l) values.push_back(to_doubles(s.shift[l]));
  return report::heatmap_svg(values, s.encoding.tokens, 0.0, hi, title);
}

std::string html_report(const ExplainArgs& args, const AdapterInfo& info, const std::vector<Example>& examples,
                        const std::vector<TokenShifts>& all, const at::Tensor& v_norm) {
  const auto [total_hi, layer_hi] = scale_max(all);
  std::string body = "<h1>AdapterBias token shifts</h1>";
  body += fmt::format(
      "<p class=\"note\">Adapter <code>{}</code> (task {}, method {}) on <code>{}</code>. For token t in layer l the "
      "adapter adds alpha<sub>l,t</sub> v<sub>l</sub> to the FFN output; its size is |alpha<sub>l,t</sub>| "
      "||v<sub>l</sub>||. Tokens are coloured by that size summed over the {} layers.</p>",
      report::escape(args.adapter), report::escape(info.task), report::escape(info.method), report::escape(args.model),
      v_norm.size(0));
  std::string norms;
  for (int64_t l = 0; l < v_norm.size(0); ++l) norms += fmt::format("{}{}", l ? ", " : "", report::num(v_norm[l].item<double>()));
  body += fmt::format("<p class=\"note\">||v<sub>l</sub>|| per layer: {}</p>", norms);
  body += "<div>" + report::legend_svg(0.0, total_hi, "total shift (sum over layers)") + "</div>";
  for (size_t i = 0; i < all.size(); ++i) {
    const TokenShifts& s = all[i];
    const at::Tensor total = s.shift.sum(0);
    body += fmt::format("<div class=\"input\"><div class=\"pred\">#{} &nbsp; prediction: <b>{}</b></div><div class=\"tokens\">", i,
                        report::escape(prediction_text(info, s.logits)));
    for (size_t t = 0; t < s.encoding.tokens.size(); ++t) {
      const double value = total[static_cast<int64_t>(t)].item<double>();
      const bool special = s.encoding.sequence_ids[t] < 0;
      body += fmt::format(
          "<span class=\"tok{}\" style=\"background:{};color:{}\" title=\"{}: total shift {}\">{}</span> ",
          special ? " special" : "", report::color(value, 0, total_hi), report::text_color(value, 0, total_hi),
          report::escape(s.encoding.tokens[t]), report::num(value), report::escape(s.encoding.tokens[t]));
    }
    body += "</div>";
    const std::string text = examples[i].text_a + (examples[i].text_b ? " ‖ " + *examples[i].text_b : "");
    body += "<div>" + input_svg(s, layer_hi, text.size() > 90 ? text.substr(0, 87) + "..." : text) + "</div></div>";
  }
  return report::html_page("AdapterBias token shifts", body);
}

void run_explain(const ExplainArgs& args) {
  const Compute compute = apply_run_options(args.run);
  if (args.format != "json" && args.format != "html" && args.format != "svg")
    throw InputError(fmt::format("--format: expected json, html or svg, found '{}'", args.format));
  const std::vector<Example> examples = read_text_inputs(args.inputs, args.columns);
  const bool to_stdout = args.out.empty() || args.out == "-";
  if (!to_stdout) check_output_file(args.out, {args.inputs.input, args.adapter}, args.overwrite, "--out");
  if (args.format == "svg" && (args.index < 0 || args.index >= static_cast<int64_t>(examples.size())))
    throw InputError(fmt::format("--index {}: there are {} inputs", args.index, examples.size()));

  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), read_adapter(args.adapter), args.adapter, compute);
  const AdapterInfo& info = loaded.info();
  const auto encodings = encode_examples(*loaded.tokenizer, examples, loaded.max_length(args.max_length));
  const std::vector<TokenShifts> all = token_shifts(loaded.model, encodings, args.batch_size,
                                                    loaded.tokenizer->pad_token_id(), examples.size() > 1000);
  const at::Tensor v_norm = shift_vector_norms(loaded.model);  // (L)

  std::string output;
  if (args.format == "json") {
    const nlohmann::ordered_json out = explanations_json(args.adapter, info, examples, all, v_norm);
    output = out.dump(2) + "\n";
  } else if (args.format == "html") {
    output = html_report(args, info, examples, all, v_norm);
  } else {
    const TokenShifts& s = all[static_cast<size_t>(args.index)];
    const auto [total_hi, layer_hi] = scale_max({s});
    output = report::standalone_svg(input_svg(s, layer_hi, prediction_text(info, s.logits)));
  }
  if (to_stdout) {
    std::fwrite(output.data(), 1, output.size(), stdout);
  } else {
    write_file_atomic(args.out, output);
    std::fprintf(stderr, "wrote %s (%zu inputs, %s)\n", args.out.c_str(), examples.size(), args.format.c_str());
  }
}

}  // namespace

void setup_explain(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  auto* sub = app.add_subcommand("explain", "Show the AdapterBias shift per token and layer for some inputs");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapter, "AdapterBias adapter file written by `adapterbias train`")->required();
  add_text_input_options(sub, args->inputs, &args->columns);
  sub->add_option("--format", args->format, "json (per token and word), html (one self-contained report) or svg "
                                            "(the heatmap of input --index)")
      ->capture_default_str();
  sub->add_option("--out", args->out, "Output file (default: stdout)");
  sub->add_flag("--overwrite", args->overwrite, "Replace an existing --out file");
  sub->add_option("--index", args->index, "--format svg: which input (0-based)")->capture_default_str();
  sub->add_option("--batch-size", args->batch_size, "Inputs per forward pass")->capture_default_str()->check(positive());
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens (0: the adapter's)")
      ->capture_default_str()->check(non_negative());
  add_run_options(sub, args->run);
  sub->callback([args] { run_explain(*args); });
}

}  // namespace adapterbias::cli
