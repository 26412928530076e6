// A restricted unpickler for the data.pkl of a torch.save state dict.
//
// It understands the opcodes torch.save emits (protocol 2, plus the few protocol-4 ones a newer
// writer might use) and builds plain values; it never calls anything. The only globals it accepts
// are those a state dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter and the typed storage classes); any other global is an error that names it.
// Tensors come back as references into the archive's storages (archive/data/<key>); torch_zip
// reads the bytes. Every read is bounds-checked, so a malformed pickle gives an error, not a crash.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moebius {

// One tensor of a pickled state dict, as a slice of a storage.
struct PickledTensor {
    std::string name;
    DType dtype = DType::F32;
    std::string storage_key;    // the storage's bytes are <archive>/data/<storage_key>
    int64_t storage_numel = 0;  // elements in that storage
    int64_t offset = 0;         // storage offset of the first element, in elements
    Shape shape;                // contiguous row-major (checked)
};

// Parses a pickled {name: tensor} dict (dict or OrderedDict; its _metadata attribute is ignored).
// `what` (the file name) prefixes every error (ErrorKind::Model).
std::vector<PickledTensor> parse_state_dict_pickle(const uint8_t* data, size_t size, const std::string& what);

}  // namespace moebius
