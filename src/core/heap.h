// The process's heap settings for training and inference: a program's choice, made in main (the CLI, the
// benchmarks), never by the library, so that the Python package leaves its host process's allocator alone.
#pragma once

namespace adapterbias {

// Every step allocates and frees activations of a few MB. glibc serves those with mmap and unmaps them on free,
// so each step faulted its pages in again (a sixth of an RTE-length bf16 training step on 2 cores). Kept in the
// heap up to mmap's largest threshold (32 MiB), freed blocks are reused; the peak RSS stays the same
// (docs/precision.md). A no-op where the C library is not glibc.
void keep_freed_activations_in_heap();

}  // namespace adapterbias
