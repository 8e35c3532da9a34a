// A read-only memory map of a whole file (PROT_READ, MAP_SHARED): tensors are
// used in place through (file, byte offset), so loading a model copies nothing
// and the page cache is shared between processes.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace mlxk {

class MappedFile : public Napi::ObjectWrap<MappedFile> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit MappedFile(const Napi::CallbackInfo& info);
  ~MappedFile() override;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool closed() const { return data_ == nullptr; }
  const std::string& path() const { return path_; }

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Path(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Advise(const Napi::CallbackInfo& info);
  void unmap();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mlxk
