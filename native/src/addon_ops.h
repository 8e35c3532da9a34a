// Registers the model ops (addon_ops.cc) on the addon's exports.
#pragma once
#include <napi.h>

#include "operands.h"

namespace mlxk {

void register_model_ops(Napi::Env env, Napi::Object exports, AddonData* data);

}  // namespace mlxk
