// Registers the model ops (addon_ops.cc) on the addon's exports.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <string>

#include "model_ops.h"
#include "operands.h"

namespace mlxk {

struct ExportedFunction {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

/** exports[name] = a JavaScript function calling fn, for each entry. */
void export_functions(Napi::Env env, Napi::Object exports, std::initializer_list<ExportedFunction> fns);

void register_model_ops(Napi::Env env, Napi::Object exports, AddonData* data);

/** The prepared weight behind a JS Weight (addon_ops.cc), checked to be neither released nor in a closed file. */
const ModelWeight& weight_arg(Napi::Env env, Napi::Value v, const std::string& what);

/**
 * For native objects that use a JS Weight on every call (addon_mla.cc): weight_handle checks once that v
 * is a Weight and returns its wrapper (kept alive by the caller's reference to v); resolve_weight then
 * makes weight_arg's checks without N-API calls or allocation, and throws as it does.
 */
const void* weight_handle(Napi::Env env, Napi::Value v, const std::string& what);
const ModelWeight& resolve_weight(Napi::Env env, const void* handle, const char* what);

/** activationBits argument i (8 or 16) as the kernels' activation planes (1 or 2). */
int planes_of(const Napi::CallbackInfo& info, size_t i, const std::string& what);

/** The fused decoder layers (addon_mla.cc): MlaLayer and opMlaLayers. */
void register_mla_ops(Napi::Env env, Napi::Object exports, AddonData* data);

}  // namespace mlxk
