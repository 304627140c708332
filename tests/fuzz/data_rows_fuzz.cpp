// Fuzz target: the readers of task data (data/generic.h, data/glue.h) and the line reader under them. The
// first byte picks the format; the rest is the file. Row counts must be exact: every data row is an example
// or a counted skip.
#include "data/generic.h"
#include "data/glue.h"
#include "data/task.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static adapterbias::fuzz::ScratchCleanup cleanup;
  const int format = data[0] % 5;
  const char* names[] = {"rows.csv", "rows.tsv", "rows.jsonl", "SST-2/dev.tsv", "MRPC/dev.tsv"};
  const auto dir = adapterbias::fuzz::scratch_dir();
  std::filesystem::create_directories(dir / "SST-2");
  std::filesystem::create_directories(dir / "MRPC");
  const auto file = dir / names[format];
  adapterbias::fuzz::write_bytes(file, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  return adapterbias::fuzz::guarded([&] {
    adapterbias::ReadOptions read;
    read.skip_bad_rows = (data[0] / 5) % 2 == 1;
    read.max_line_bytes = 4096;
    adapterbias::Dataset dataset;
    if (format < 3) {
      adapterbias::GenericOptions options;
      options.text_pair_column = (data[0] / 10) % 2 == 1 ? "pair" : "";
      options.regression = (data[0] / 20) % 2 == 1;
      options.read = read;
      dataset = adapterbias::read_generic(file, options);
    } else {
      const auto& task = adapterbias::task_by_name(format == 3 ? "sst2" : "mrpc");
      dataset = adapterbias::read_glue_split(dir, task, "dev", read);
    }
    const int64_t accounted = static_cast<int64_t>(dataset.examples.size()) + dataset.report.skipped;
    if (accounted != dataset.report.rows) std::abort();
    for (const auto& ex : dataset.examples)
      if (ex.text_a.find('\0') != std::string::npos) std::abort();
  });
}
