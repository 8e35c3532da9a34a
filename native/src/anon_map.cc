#include "anon_map.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "operands.h"

namespace mlxk {
namespace {

struct Mapping {
  void* addr;
  size_t bytes;
};

// Live mappings by address. The ArrayBuffer's finalizer and unmapAnonymous both run on the
// JavaScript thread, whichever comes first unmaps; the other finds the entry gone.
std::unordered_map<void*, Mapping*>& live() {
  static std::unordered_map<void*, Mapping*> m;
  return m;
}

size_t unmap(Mapping* m) {
  if (m->addr == nullptr) return 0;
  ::munmap(m->addr, m->bytes);
  live().erase(m->addr);
  m->addr = nullptr;
  return m->bytes;
}

void finalize(Napi::Env, void*, Mapping* m) {
  unmap(m);
  delete m;
}

}  // namespace

Napi::Value MapAnonymous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t asked = (size_t)integer_arg(env, info[0], "mapAnonymous: bytes", 1, (int64_t)1 << 40);
  // Whole pages: the buffer's byteLength is then what the mapping can make resident.
  const size_t page = (size_t)::sysconf(_SC_PAGESIZE);
  const size_t bytes = (asked + page - 1) / page * page;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw Napi::Error::New(env, std::string("mapAnonymous: mmap of ") + std::to_string(bytes) + " bytes failed (" + std::strerror(errno) + ")");
  Mapping* m = new Mapping{p, bytes};
  live()[p] = m;
  return Napi::ArrayBuffer::New(env, p, bytes, finalize, m);
}

Napi::Value UnmapAnonymous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "unmapAnonymous: buffer must be an ArrayBuffer");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return Napi::Number::New(env, 0);
  auto it = live().find(ab.Data());
  if (it == live().end()) throw Napi::Error::New(env, "unmapAnonymous: buffer was not made by mapAnonymous");
  // Detach first: once the pages are gone no view may still point at them.
  ab.Detach();
  return Napi::Number::New(env, (double)unmap(it->second));
}

Napi::Value AnonymousMapped(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t bytes = 0;
  for (const auto& [addr, m] : live()) bytes += m->bytes;
  Napi::Object o = Napi::Object::New(env);
  o.Set("mappings", Napi::Number::New(env, (double)live().size()));
  o.Set("bytes", Napi::Number::New(env, (double)bytes));
  return o;
}

}  // namespace mlxk
