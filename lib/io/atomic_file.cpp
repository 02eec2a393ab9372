// io/atomic_file.cpp — temporary file, fsync, rename, fsync the directory (POSIX).
#include "atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "error.hpp"

namespace moments {

namespace fs = std::filesystem;

namespace {

fs::path directory_of(const fs::path& path) { return path.has_parent_path() ? path.parent_path() : fs::path("."); }

// Removes ".<name>.tmp.<pid>" files left by processes that no longer exist
// (killed mid-write). A file whose process is alive may be a save in progress: kept.
void remove_stale_temporaries(const fs::path& path) {
  const std::string prefix = "." + path.filename().string() + ".tmp.";
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory_of(path), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == getpid()) continue;
    if (::kill(pid, 0) == -1 && errno == ESRCH) fs::remove(entry.path(), ec);  // no such process
  }
}

}  // namespace

std::string temporary_path_for(const std::string& path, long pid) {
  fs::path target(path);
  return (directory_of(target) / ("." + target.filename().string() + ".tmp." + std::to_string(pid))).string();
}

void write_file_atomically(const std::string& path, const std::function<void(const WriteBytes& write)>& produce,
                           const std::string& who) {
  const fs::path target(path);
  if (!target.has_filename()) fail(who, " '", path, "': the path names a directory, expected a file name");
  remove_stale_temporaries(target);
  const std::string temporary = temporary_path_for(path, static_cast<long>(getpid()));
  auto system_error = [&](const char* step, const std::string& file) {
    fail(who, " '", path, "': cannot ", step, " '", file, "' (", std::strerror(errno), ")");
  };

  // 1. Write everything to the temporary file.
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) system_error("create the temporary file", temporary);
  try {
    WriteBytes write = [&](const void* bytes, size_t size) {
      const char* p = static_cast<const char*>(bytes);
      while (size > 0) {
        ssize_t n = ::write(fd, p, std::min<size_t>(size, size_t{1} << 30));  // a partial write is normal
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) system_error("write to", temporary);
        p += n;
        size -= static_cast<size_t>(n);
      }
    };
    produce(write);
    // 2. Its bytes reach the disk before the rename can make them visible.
    if (::fsync(fd) != 0) system_error("fsync", temporary);
    int closing = fd;
    fd = -1;
    if (::close(closing) != 0) system_error("close", temporary);
    // 3. Atomically replace the old file.
    if (::rename(temporary.c_str(), path.c_str()) != 0) system_error("rename the temporary file over", path);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }

  // 4. Make the rename durable. Some filesystems cannot fsync a directory (EINVAL): nothing more to do there.
  const std::string directory = directory_of(target).string();
  int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    int synced = ::fsync(dir_fd);
    int error = errno;
    ::close(dir_fd);
    errno = error;
    if (synced != 0 && error != EINVAL) system_error("fsync the directory", directory);
  }
}

}  // namespace moments
