// io/atomic_file.cpp — follow symlinks, temporary file, mode, fsync, rename, fsync
// the directory (POSIX). The steps are numbered as in atomic_file.hpp.
#include "atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "error.hpp"

namespace moments {

namespace fs = std::filesystem;

namespace {

constexpr const char* temporary_prefix = ".moments-tmp.";  // then "<pid>.<n>"
constexpr int max_symlink_hops = 40;                        // Linux's own limit on a path lookup

std::atomic<unsigned long long> saves_started{0};  // n in the temporary names of this process

fs::path directory_of(const fs::path& path) { return path.has_parent_path() ? path.parent_path() : fs::path("."); }

bool all_digits(const std::string& text, size_t max_length) {
  return !text.empty() && text.size() <= max_length &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The pid in ".moments-tmp.<pid>.<n>", or -1 if `name` is not a temporary's name.
long temporary_pid(const std::string& name) {
  const std::string prefix = temporary_prefix;
  if (name.compare(0, prefix.size(), prefix) != 0) return -1;
  const size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return -1;
  const std::string pid = name.substr(prefix.size(), dot - prefix.size()), n = name.substr(dot + 1);
  if (!all_digits(pid, 9) || !all_digits(n, 20)) return -1;
  return std::stol(pid);
}

// Removes temporaries left by processes that no longer exist (killed mid-write).
// One whose process is alive may be a save in progress: kept.
void remove_stale_temporaries(const fs::path& directory) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory, ec)) {
    const long pid = temporary_pid(entry.path().filename().string());
    if (pid <= 0 || pid == static_cast<long>(getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) fs::remove(entry.path(), ec);  // no such process
  }
}

// Step 0: the file `path` names once every symbolic link at its end is followed.
// Links in the directories above need no care: rename and open follow them.
std::string final_target(const std::string& path, const std::string& who) {
  std::string current = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno == ENOENT) return current;  // a new file (or the missing target of a dangling link)
      fail(who, ": cannot look up '", current, "' (", std::strerror(errno), ")");  // EACCES, ELOOP, ENOTDIR, ...
    }
    if (!S_ISLNK(st.st_mode)) return current;
    if (hops == max_symlink_hops) fail(who, ": cannot follow the symbolic link (", std::strerror(ELOOP), ")");
    std::string link(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
    const ssize_t n = ::readlink(current.c_str(), link.data(), link.size());
    if (n < 0) fail(who, ": cannot read the symbolic link '", current, "' (", std::strerror(errno), ")");
    if (static_cast<size_t>(n) == link.size()) fail(who, ": the symbolic link '", current, "' changed while it was read");
    link.resize(static_cast<size_t>(n));
    const fs::path next(link);
    current = (next.is_absolute() ? next : directory_of(current) / next).string();
  }
}

}  // namespace

std::vector<std::string> temporary_files_of(const std::string& directory, long pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory, ec))
    if (temporary_pid(entry.path().filename().string()) == pid) out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

void write_file_atomically(const std::string& path, const std::function<void(const WriteBytes& write)>& produce,
                           const std::string& who_given) {
  const std::string who = who_given.empty() ? "write_file_atomically '" + path + "'" : who_given;
  if (!fs::path(path).has_filename()) fail(who, ": the path names a directory, expected a file name");

  // 0. Write through symbolic links to the file they name.
  const std::string target = final_target(path, who);
  const std::string via = target == path ? "" : " (the target of the symbolic link)";
  const fs::path directory = directory_of(target);
  remove_stale_temporaries(directory);
  auto system_error = [&](const std::string& step) { fail(who, ": cannot ", step, " (", std::strerror(errno), ")"); };

  // The mode (and owner) the new file keeps: the old file's, if there is one.
  struct stat old {};
  const bool replacing = ::stat(target.c_str(), &old) == 0;
  if (!replacing && errno != ENOENT) system_error("look up '" + target + "'" + via);

  // 1. A temporary file of our own: O_EXCL, so nothing there is ever overwritten.
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    temporary = (directory / (temporary_prefix + std::to_string(getpid()) + "." + std::to_string(saves_started++))).string();
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, replacing ? 0600 : 0666);
    if (fd < 0 && (errno != EEXIST || attempt == 100)) system_error("create the temporary file '" + temporary + "'");
  }
  try {
    // 2. The old file's mode and, where we may (root, or the same owner), its owner and group.
    if (replacing) {
      if ((old.st_uid != ::geteuid() || old.st_gid != ::getegid()) && ::fchown(fd, old.st_uid, old.st_gid) != 0) {
        // not allowed (another user's file): the new file is ours, as any editor's would be
      }
      if (::fchmod(fd, old.st_mode & 07777) != 0) system_error("set the mode of '" + temporary + "'");
    }
    WriteBytes write = [&](const void* bytes, size_t size) {
      const char* p = static_cast<const char*>(bytes);
      while (size > 0) {
        ssize_t n = ::write(fd, p, std::min<size_t>(size, size_t{1} << 30));  // a partial write is normal
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) system_error("write to '" + temporary + "'");
        p += n;
        size -= static_cast<size_t>(n);
      }
    };
    produce(write);
    // Its bytes reach the disk before the rename can make them visible.
    if (::fsync(fd) != 0) system_error("fsync '" + temporary + "'");
    int closing = fd;
    fd = -1;
    if (::close(closing) != 0) system_error("close '" + temporary + "'");
    // 3. Atomically replace the old file.
    if (::rename(temporary.c_str(), target.c_str()) != 0)
      system_error("rename '" + temporary + "' over '" + target + "'" + via);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }

  // 4. Make the rename durable. Some filesystems cannot fsync a directory (EINVAL): nothing more to do there.
  int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    int synced = ::fsync(dir_fd);
    int error = errno;
    ::close(dir_fd);
    errno = error;
    if (synced != 0 && error != EINVAL) system_error("fsync the directory '" + directory.string() + "'");
  }
}

}  // namespace moments
