// Reader for torch.save archives (the zip format PyTorch writes since 1.6, e.g. upstream's
// diffusion_pytorch_model.bin):
//   <prefix>/data.pkl        the pickled state dict (see pickle.h)
//   <prefix>/data/<key>      raw little-endian storage bytes, one entry per storage
//   <prefix>/byteorder       "little" (absent in older files: little is assumed)
//   <prefix>/version, .format_version, .storage_alignment, ...   not needed
// The prefix folder is whatever torch.save named it (archive/, removal_model/, ...).
#pragma once
#include <cstdint>
#include <string>

#include "io/state_dict.h"

namespace moebius {

// Reads every tensor of a state dict saved with torch.save. Errors (ErrorKind::Model; Io when the
// file cannot be opened) name the file and what is wrong.
StateDict load_torch_bin(const std::string& path);

// The same from bytes in memory (e.g. a file handed to the browser build); `what` names it in errors.
StateDict parse_torch_bin(const uint8_t* data, size_t size, const std::string& what);

}  // namespace moebius
