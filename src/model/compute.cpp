#include "model/compute.h"

#include <ATen/autocast_mode.h>
#include <ATen/cpu/Utils.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include "core/error.h"
#include "core/log.h"

namespace adapterbias {

std::string Compute::to_string() const { return fmt::format("{} {}", device.str(), bf16() ? "bf16" : "fp32"); }

bool cpu_has_fast_bf16() {
  const auto capabilities = at::cpu::get_cpu_capabilities();
  for (const char* flag : {"amx_bf16", "avx512_bf16"}) {
    const auto it = capabilities.find(flag);
    if (it != capabilities.end() && it->second.isBool() && it->second.toBool()) return true;
  }
  return false;
}

Compute resolve_compute(const std::string& device, const std::string& precision) {
  Compute compute;
  if (device == "cpu") {
    compute.device = c10::Device(c10::kCPU);
  } else if (device == "cuda" || device.starts_with("cuda:")) {
    if (!torch::cuda::is_available())
      throw InputError(fmt::format("--device {}: this build of adapterbias has no CUDA (its LibTorch is CPU-only, or "
                                   "no GPU is visible); use --device cpu, or build against a CUDA LibTorch",
                                   device));
    try {
      compute.device = c10::Device(device == "cuda" ? std::string("cuda:0") : device);
    } catch (const c10::Error&) {
      throw InputError(fmt::format("--device {}: not a device (cpu, cuda, cuda:N)", device));
    }
    const int64_t count = torch::cuda::device_count();
    if (compute.device.index() >= count)
      throw InputError(fmt::format("--device {}: this machine has {} CUDA device(s)", device, count));
  } else {
    throw InputError(fmt::format("--device {}: not a device (cpu, cuda, cuda:N)", device));
  }
  if (precision == "fp32") {
    compute.precision = Precision::fp32;
  } else if (precision == "bf16") {
    compute.precision = Precision::bf16;
    // Without AMX or AVX512-BF16, oneDNN emulates bf16 products: measured on an AVX2-only EPYC, a bf16 matmul
    // ran at 1 GFLOP/s against 131 in fp32 and a MiniLM training step took 33x longer.
    if (compute.device.is_cpu() && !cpu_has_fast_bf16())
      log_line(LogKind::warning,
               "--precision bf16: this CPU has neither AMX nor AVX512-BF16, so bf16 matrix products are emulated and "
               "run many times slower than fp32; --precision auto picks fp32 here");
  } else if (precision == "auto") {
    compute.precision = compute.device.is_cuda() || cpu_has_fast_bf16() ? Precision::bf16 : Precision::fp32;
  } else {
    throw InputError(fmt::format("--precision {}: not a precision (fp32, bf16, auto)", precision));
  }
  return compute;
}

AutocastScope::AutocastScope(const Compute& compute) {
  if (!compute.bf16()) return;
  active_ = true;
  device_type_ = compute.device.type();
  was_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  was_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::set_autocast_dtype(device_type_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Leaving the outermost scope drops the casts autocast cached for trained weights during this forward.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_type_, was_enabled_);
  at::autocast::set_autocast_dtype(device_type_, was_dtype_);
}

}  // namespace adapterbias
