// Where and in what precision the encoder computes: a device (CPU or CUDA) and fp32 or bf16 mixed precision.
// bf16 is autocast-style: matrix products and attention in bf16 (frozen matmul weights are stored in bf16 once,
// so no step re-casts them); LayerNorm, softmax statistics, the loss, every trained tensor and its AdamW state
// stay fp32 (docs/precision.md).
#pragma once
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace adapterbias {

enum class Precision { fp32, bf16 };

struct Compute {
  c10::Device device{c10::kCPU};
  Precision precision = Precision::fp32;

  bool bf16() const { return precision == Precision::bf16; }
  std::string to_string() const;  // "cpu fp32", "cuda:0 bf16"
};

// Whether this CPU multiplies bf16 matrices in hardware (AMX or AVX512-BF16), so that bf16 pays off.
bool cpu_has_fast_bf16();

// Parses --device ("cpu", "cuda", "cuda:N") and --precision ("fp32", "bf16", "auto": bf16 on CUDA and on CPUs
// with cpu_has_fast_bf16(), else fp32). InputError for an unknown value, for CUDA in a build or on a machine
// without it, and for a CUDA index that does not exist.
Compute resolve_compute(const std::string& device, const std::string& precision);

// While alive, ops on `compute.device` run under autocast to bf16 when compute is bf16; otherwise does nothing.
// Restores the previous autocast state (thread-local) when destroyed.
class AutocastScope {
 public:
  explicit AutocastScope(const Compute& compute);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_ = c10::kCPU;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::kBFloat16;
};

}  // namespace adapterbias
