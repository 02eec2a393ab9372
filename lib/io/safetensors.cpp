// io/safetensors.cpp — save() and load(): tensors to and from safetensors files.
#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "atomic_file.hpp"
#include "safetensors_format.hpp"

namespace moments {

namespace {

// Data moves through a buffer of this many floats at a time, converted to or
// from little-endian on the way (a plain copy on little-endian hosts).
constexpr size_t chunk_floats = size_t{1} << 18;  // 1 MiB

// A file descriptor closed at the end of its scope.
struct File {
  int fd = -1;
  ~File() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& named) { return named.first == name; });
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return tensor;
  fail("SafetensorsFile::get: no tensor named '", name, "' (the file has ", tensors.size(), " tensors)");
}

void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  const std::string who = "save '" + path + "'";

  // Check the names and lay the tensors out back to back, in the order given.
  std::vector<safetensors::Entry> entries;
  std::vector<Tensor> cpu_tensors;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) fail(who, ": tensor '", name, "' is undefined");
    if (name == "__metadata__") fail(who, ": '__metadata__' is reserved for the metadata, not a tensor name");
    if (safetensors::first_invalid_utf8(name) != name.size()) fail(who, ": tensor name '", name, "' is not valid UTF-8");
    if (!seen.insert(name).second) fail(who, ": two tensors are named '", name, "'");
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * 4;
    entries.push_back({name, tensor.shape(), offset, offset + bytes});
    cpu_tensors.push_back(tensor.to(Device::cpu));
    offset += bytes;
  }
  for (const auto& [key, value] : metadata)
    if (safetensors::first_invalid_utf8(key) != key.size() || safetensors::first_invalid_utf8(value) != value.size())
      fail(who, ": metadata '", key, "' is not valid UTF-8");
  const std::string header = safetensors::make_header(entries, metadata);

  write_file_atomically(path, [&](const WriteBytes& write) {
    unsigned char length[8];
    safetensors::write_u64_le(header.size(), length);
    write(length, 8);                         // N
    write(header.data(), header.size());      // the JSON header, space-padded
    std::vector<unsigned char> chunk;
    for (const Tensor& t : cpu_tensors) {     // the data section
      const auto count = static_cast<size_t>(t.numel());
      for (size_t done = 0; done < count; done += chunk_floats) {
        const size_t n = std::min(chunk_floats, count - done);
        chunk.resize(4 * n);
        safetensors::encode_f32(t.data() + done, n, chunk.data());
        write(chunk.data(), chunk.size());
      }
    }
  }, who);
}

SafetensorsFile load(const std::string& path) {
  const std::string who = "load '" + path + "'";
  // open() says why a file cannot be read: ENOENT, EACCES, ELOOP, ENOTDIR, ... as the system reports it.
  File in{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};  // O_NONBLOCK: a FIFO does not hang the open
  if (in.fd < 0) fail(who, ": cannot open the file (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) fail(who, ": cannot stat the file (", std::strerror(errno), ")");
  if (!S_ISREG(st.st_mode)) fail(who, ": not a regular file");
  const auto file_size = static_cast<uint64_t>(st.st_size);
  uint64_t position = 0;  // where the next read starts
  auto read = [&](void* into, uint64_t bytes) {
    char* p = static_cast<char*>(into);
    while (bytes > 0) {
      const ssize_t n = ::pread(in.fd, p, std::min<uint64_t>(bytes, uint64_t{1} << 30), static_cast<off_t>(position));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(who, ": cannot read the file (", std::strerror(errno), ")");
      if (n == 0) fail(who, ": the file ended early while reading (did it change during the load?)");
      p += n, position += static_cast<uint64_t>(n), bytes -= static_cast<uint64_t>(n);
    }
  };

  // The 8-byte header length, checked before anything is allocated for it.
  unsigned char length_bytes[8] = {};
  if (file_size >= 8) read(length_bytes, 8);
  const uint64_t header_length = safetensors::read_u64_le(length_bytes);
  safetensors::check_header_length(header_length, file_size, who);

  // The header: every rule of safetensors_format.hpp, checked against the real data size.
  std::string text(header_length, '\0');
  read(text.data(), header_length);
  const uint64_t data_start = 8 + header_length;
  const safetensors::Header header = safetensors::parse_header(text, file_size - data_start, who);

  // The data: each tensor's size now matches its offsets, and the offsets lie in the file.
  SafetensorsFile file;
  file.metadata = header.metadata;
  std::vector<unsigned char> chunk;
  for (const safetensors::Entry& entry : header.tensors) {
    Tensor t = Tensor::empty(entry.shape);
    position = data_start + entry.begin;
    const auto count = static_cast<size_t>(t.numel());
    for (size_t done = 0; done < count; done += chunk_floats) {
      const size_t n = std::min(chunk_floats, count - done);
      chunk.resize(4 * n);
      read(chunk.data(), chunk.size());
      safetensors::decode_f32(chunk.data(), n, t.data() + done);
    }
    file.tensors.emplace_back(entry.name, std::move(t));
  }
  return file;
}

}  // namespace moments
