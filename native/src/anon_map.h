// Anonymous memory mappings handed to JavaScript as ArrayBuffers, for data the process keeps
// long and drops at known times (the prompt cache's entries). malloc'd buffers of a few MB
// fall under glibc's dynamic mmap threshold once a larger one has been freed, so freeing them
// leaves their pages in the heap; a mapping of our own leaves resident memory at munmap.
#pragma once
#include <napi.h>

namespace mlxk {

// mapAnonymous(bytes) → ArrayBuffer over a fresh private anonymous mapping (zero-filled,
// byteLength = bytes rounded up to whole pages). Unmapped by unmapAnonymous, or when the buffer is collected.
Napi::Value MapAnonymous(const Napi::CallbackInfo& info);

// unmapAnonymous(buffer) → the bytes unmapped; the buffer is detached (byteLength 0, every view
// of it empty), so nothing can read the pages after they are gone.
Napi::Value UnmapAnonymous(const Napi::CallbackInfo& info);

// Mappings made by mapAnonymous and not yet unmapped, and their bytes (for tests: no leaks).
Napi::Value AnonymousMapped(const Napi::CallbackInfo& info);

}  // namespace mlxk
