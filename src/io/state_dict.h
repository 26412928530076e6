// A state dict: tensor name -> stored tensor, as in PyTorch. Names are exactly upstream's.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moebius {

using StateDict = std::map<std::string, HostTensor>;

// One entry of a model's parameter table (the model's own list of names and shapes, in upstream's
// state-dict order; see keys_unet.json / keys_vae.json in the fixtures).
struct ParamSpec {
    std::string name;
    Shape shape;
    DType dtype = DType::F32;  // I64 for num_batches_tracked
};

// Checks names and shapes against the table. Missing, unexpected or mis-shaped tensors give one
// error (ErrorKind::Model) that lists them all, prefixed with `what` (the file name).
void check_state_dict(const StateDict& sd, const std::vector<ParamSpec>& table, const std::string& what);

// The fixture rule (shared/fixtures/README.md) for synthetic weights, bit-exact.
uint64_t fnv1a64(const std::string& s);
HostTensor synth_tensor(const ParamSpec& spec, uint64_t seed);
StateDict synth_state_dict(const std::vector<ParamSpec>& table, uint64_t seed);

// Float32 view of one tensor, with a clear error when it is absent.
std::vector<float> get_f32(const StateDict& sd, const std::string& name);

}  // namespace moebius
