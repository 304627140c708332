// Precompiled header: the LibTorch headers every tensor translation unit needs. Narrow headers only (not
// <torch/torch.h>), so the PCH stays small and builds fast on two cores.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/normalization.h>
#include <torch/types.h>
#include <torch/utils.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
