// safetensors files (https://github.com/huggingface/safetensors): the diffusers VAE, fp16 exports,
// and our own model file (model_file.h).
//
// Layout: 8-byte little-endian header length N, then N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
// The format is header-first and then flat bytes, so it can be memory-mapped or streamed: read 8
// bytes, then the header (parse_safetensors_header), then fetch each tensor's byte range on its own
// (HTTP range requests in the browser build). Nothing here needs the whole file in memory.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/state_dict.h"

namespace moebius {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsEntry {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    uint64_t begin = 0, end = 0;  // absolute byte offsets in the file
};

struct SafetensorsHeader {
    std::vector<SafetensorsEntry> tensors;  // in file order (sorted by offset)
    Metadata metadata;                      // "__metadata__"
    uint64_t data_start = 0;                // 8 + header length
};

// Bytes needed before the header can be parsed: 8 + N, from the first 8 bytes of the file
// (validated against file_size).
uint64_t safetensors_header_end(const uint8_t* first8, uint64_t file_size, const std::string& what);

// Parses and validates the header: `data` holds at least the first safetensors_header_end() bytes
// of a file of file_size bytes. Checks dtypes, that sizes equal numel * dtype size and that tensors
// lie inside the file without overlapping. Errors (ErrorKind::Model) name `what` and the tensor.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           const std::string& what);

// Reads just the header of a file (a few hundred kB even for the full model).
SafetensorsHeader read_safetensors_header(const std::string& path);

// A whole file in memory (browser build, tests).
StateDict parse_safetensors(const uint8_t* data, size_t size, const std::string& what, Metadata* metadata = nullptr);

// Reads the header, then each tensor straight into its own buffer.
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// Written atomically. Tensors are packed in the order the reference writer uses (larger element
// size first, then by name), so every tensor starts on a multiple of its element size and the data
// section on a multiple of 8 (the header is padded with spaces). The safetensors spec forbids gaps
// between tensors, so this is as much alignment as a conforming file can give.
void save_safetensors(const std::string& path, const StateDict& sd, const Metadata& metadata);
// The same bytes in memory (the browser build caches converted models).
std::vector<uint8_t> serialize_safetensors(const StateDict& sd, const Metadata& metadata);

}  // namespace moebius
