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
//   0. if the path is a symbolic link (or a chain of them), the file written is the
//      link's final target, as editors do: the link stays a link, and everything
//      below happens in the target's directory (a dangling link's target is created);
//   1. write the bytes to a temporary file in that directory, ".moments-tmp.<pid>.<n>"
//      (n counts this process's saves), created with O_EXCL; the name is at most 45
//      bytes, so it fits the 255-byte limit on a name (NAME_MAX) however long the
//      target's name is;
//   2. give it the mode of the file it replaces (and, where allowed, its owner and
//      group), or 0666 & ~umask for a new file, then fsync it, so its bytes are on disk
//      before anything points at them;
//   3. rename it over the target: within one filesystem rename is atomic, so a reader
//      opens the old file or the new one;
//   4. fsync the directory, so the rename itself survives a power cut.
// A process killed before step 3 leaves the target untouched and its temporary file
// behind. Temporary names never end in a target's extension (".safetensors", ".csv")
// and start with a dot, so no load or glob picks one up; the next write into that
// directory removes the ".moments-tmp.<pid>.<n>" files whose process no longer exists
// (on this machine: a directory shared with another machine may hold a live one's).
// If `produce` throws, or a write fails, the temporary file is removed and the
// error propagates: system errors as moments::Error naming the path, the step and the
// reason as the system gives it (EACCES, ELOOP, ENOTDIR, ENOSPC, ...).
// Threads may write the same path at once: each has its own temporary; the last
// rename wins.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace moments {

// Appends `size` bytes to the file being written.
using WriteBytes = std::function<void(const void* bytes, size_t size)>;

// `who` starts error messages and should name the path, e.g. "save 'run.safetensors'";
// empty gives "write_file_atomically '<path>'".
void write_file_atomically(const std::string& path, const std::function<void(const WriteBytes& write)>& produce,
                           const std::string& who = "");

// The temporary files of process `pid` in `directory` (full paths): where
// write_file_atomically puts its bytes, and what a killed save leaves behind.
std::vector<std::string> temporary_files_of(const std::string& directory, long pid);

}  // namespace moments
