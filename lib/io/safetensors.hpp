// io/safetensors.hpp — save and load named tensors as a safetensors file.
//
// USAGE
//   #include "io/safetensors.hpp"
//   save("weights.safetensors", {{"w", w}, {"b", b}}, {{"epoch", "3"}});  // atomic: temp file, fsync, rename
//   SafetensorsFile file = load("weights.safetensors");                  // checks every rule first
//   Tensor w2 = file.get("w");                                            // bit-identical to w
//   std::string epoch = file.metadata.at("epoch");
//
// The same file from Python:
//   from safetensors.numpy import load_file;  load_file("weights.safetensors")["w"]
//   or with no library at all: tests/reference/make_safetensors_check.py (json, struct, numpy).
//
// The layout and the loader's rules are in safetensors_format.hpp. load() treats
// every file as untrusted: a malformed one gives a moments::Error that names the
// file, the rule and the values, and nothing is allocated from a size that has
// not been checked against the file's real size. Tensors are float32 ("F32"),
// any rank (0-d included) and any sizes (0 included).
#pragma once
#include <map>
#include <string>

#include "nn.hpp"  // NamedTensors

namespace moments {

// safetensors' "__metadata__": free-form string keys and string values.
using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  NamedTensors tensors;  // in the header's order: the order they were saved, for files moments wrote
  Metadata metadata;
  bool contains(const std::string& name) const;
  const Tensor& get(const std::string& name) const;  // throws naming the missing tensor
};

// Writes the tensors (CPU copies of them) and metadata to `path`, replacing any
// file there only once the new one is complete on disk (io/atomic_file.hpp): a
// symbolic link is written through to its target, and a replaced file keeps its mode.
// Names must be unique, valid UTF-8 and not "__metadata__"; tensors must be defined.
void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

// Reads a safetensors file of F32 tensors. A file that cannot be opened is named
// with the system's reason (No such file or directory, Permission denied, Too many
// levels of symbolic links, ...); anything but a regular file is refused unread.
SafetensorsFile load(const std::string& path);

}  // namespace moments
