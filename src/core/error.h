// The library's error hierarchy. The library throws, never exits; the CLI maps each class to its exit code.
// Messages name the file, the line or key, what was expected and what was found.
#pragma once
#include <stdexcept>
#include <string>

namespace adapterbias {

enum class ExitCode : int {
  kSuccess = 0,
  kInternal = 1,  // a bug or an unexpected LibTorch failure
  kInput = 3,     // bad user input: a missing file, a malformed row, a bad flag value
  kFormat = 4,    // a file that does not parse: checkpoint, safetensors header, tokenizer.json, adapter
  kMismatch = 5,  // parts that are each valid but do not fit together: shapes, another backbone's adapter
  kDistributed = 6,  // another rank of a data-parallel run failed, hung past the timeout, or never arrived
  kDiverged = 7,     // training produced a NaN or infinite loss
  // Stopped by a signal after writing a checkpoint: 128 + the signal's number (130 for SIGINT), as shells do.
};

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual ExitCode exit_code() const { return ExitCode::kInternal; }
};

class InputError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kInput; }
};

class FormatError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kFormat; }
};

class MismatchError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kMismatch; }
};

}  // namespace adapterbias
