// NumPy .npy files (format 1.0/2.0/3.0, C order, little-endian): the fixtures and --noise use them.
#pragma once
#include <string>

#include "core/tensor.h"

namespace moebius {

HostTensor load_npy(const std::string& path);
HostTensor parse_npy(const uint8_t* data, size_t size, const std::string& what);
// Written atomically (temp file + rename): no partial file on failure.
void save_npy(const std::string& path, const HostTensor& t);

}  // namespace moebius
