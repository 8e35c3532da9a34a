#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mlxk {

Napi::Function MappedFile::Define(Napi::Env env) {
  return DefineClass(env, "MappedFile",
                     {
                         InstanceAccessor<&MappedFile::Size>("size"),
                         InstanceAccessor<&MappedFile::Path>("path"),
                         InstanceAccessor<&MappedFile::Closed>("closed"),
                         InstanceMethod<&MappedFile::Close>("close"),
                         InstanceMethod<&MappedFile::Read>("read"),
                         InstanceMethod<&MappedFile::Advise>("advise"),
                     });
}

MappedFile::MappedFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappedFile>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "MappedFile(path): path must be a string");
  path_ = info[0].As<Napi::String>().Utf8Value();
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, path_ + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Napi::Error::New(env, path_ + ": cannot stat (" + std::strerror(err) + ")");
  }
  if (st.st_size <= 0) {
    ::close(fd);
    throw Napi::Error::New(env, path_ + ": file is empty; nothing to map");
  }
  void* p = ::mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (p == MAP_FAILED) throw Napi::Error::New(env, path_ + ": mmap failed (" + std::strerror(err) + ")");
  data_ = static_cast<const uint8_t*>(p);
  size_ = (size_t)st.st_size;
}

MappedFile::~MappedFile() { unmap(); }

void MappedFile::unmap() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
}

Napi::Value MappedFile::Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)size_); }
Napi::Value MappedFile::Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }
Napi::Value MappedFile::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }

Napi::Value MappedFile::Close(const Napi::CallbackInfo& info) {
  unmap();
  return info.Env().Undefined();
}

static void range_arg(const Napi::CallbackInfo& info, size_t size, const std::string& path, const char* method,
                      size_t& offset, size_t& length) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, std::string("MappedFile.") + method + "(offset, length): numbers expected");
  const double o = info[0].As<Napi::Number>().DoubleValue(), l = info[1].As<Napi::Number>().DoubleValue();
  if (!(o >= 0) || !(l >= 0) || o != (double)(uint64_t)o || l != (double)(uint64_t)l || o + l > (double)size)
    throw Napi::RangeError::New(env, path + ": " + method + " of " + std::to_string((uint64_t)l) + " bytes at " +
                                         std::to_string((uint64_t)o) + " is outside the file (" + std::to_string(size) +
                                         " bytes)");
  offset = (size_t)o;
  length = (size_t)l;
}

Napi::Value MappedFile::Read(const Napi::CallbackInfo& info) {
  if (closed()) throw Napi::Error::New(info.Env(), path_ + ": read after close");
  size_t offset, length;
  range_arg(info, size_, path_, "read", offset, length);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), data_ + offset, length);
}

Napi::Value MappedFile::Advise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed()) throw Napi::Error::New(env, path_ + ": advise after close");
  size_t offset, length;
  range_arg(info, size_, path_, "advise", offset, length);
  const std::string how = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  int advice;
  if (how == "willneed") advice = MADV_WILLNEED;
  else if (how == "sequential") advice = MADV_SEQUENTIAL;
  else if (how == "random") advice = MADV_RANDOM;
  // Drops the range's pages from this process (they stay in the page cache and fault back in
  // from the file if read again): a streamed pass lets go of a layer it has finished with.
  else if (how == "dontneed") advice = MADV_DONTNEED;
  else throw Napi::TypeError::New(env, "MappedFile.advise: third argument must be 'willneed', 'sequential', 'random' or 'dontneed'");
  // madvise needs a page-aligned start.
  const size_t page = (size_t)::sysconf(_SC_PAGESIZE);
  const size_t start = offset / page * page;
  ::madvise(const_cast<uint8_t*>(data_) + start, length + (offset - start), advice);
  return env.Undefined();
}

}  // namespace mlxk
