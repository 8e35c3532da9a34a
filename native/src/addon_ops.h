// Registers the model ops (addon_ops.cc) on the addon's exports.
#pragma once
#include <napi.h>

#include <initializer_list>

#include "operands.h"

namespace mlxk {

struct ExportedFunction {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

/** exports[name] = a JavaScript function calling fn, for each entry. */
void export_functions(Napi::Env env, Napi::Object exports, std::initializer_list<ExportedFunction> fns);

void register_model_ops(Napi::Env env, Napi::Object exports, AddonData* data);

}  // namespace mlxk
