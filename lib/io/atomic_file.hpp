// io/atomic_file.hpp — write a file so that a crash leaves either the old file or
// the complete new one at its path, never a mix.
//
// USAGE
//   write_file_atomically("run.safetensors", [&](const WriteBytes& write) {
//     write(header.data(), header.size());   // as many calls as you like
//     write(values, bytes);
//   });
//
// HOW (the classic recipe; see e.g. LWN "Ensuring data reaches disk", 2011)
//   1. write the bytes to a temporary file in the same directory, ".<name>.tmp.<pid>";
//   2. fsync it, so its bytes are on disk before anything points at them;
//   3. rename it over <name>: within one filesystem rename is atomic, so a reader
//      opens the old file or the new one;
//   4. fsync the directory, so the rename itself survives a power cut.
// A process killed before step 3 leaves <name> untouched and its temporary file
// behind; the temporary's name never matches <name>, so no load reads it, and the
// next write to <name> removes leftovers whose process no longer exists.
// If `produce` throws, or a write fails, the temporary file is removed and the
// error propagates (system errors as moments::Error naming the path and reason).
// One write per path at a time per process: two threads saving to the same path
// would share a temporary name.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace moments {

// Appends `size` bytes to the file being written.
using WriteBytes = std::function<void(const void* bytes, size_t size)>;

// `who` starts error messages, e.g. "save".
void write_file_atomically(const std::string& path, const std::function<void(const WriteBytes& write)>& produce,
                           const std::string& who = "write_file_atomically");

// ".<name>.tmp.<pid>" next to `path`: where write_file_atomically puts its bytes.
std::string temporary_path_for(const std::string& path, long pid);

}  // namespace moments
