// The one mapping from engine error kinds to the C API's status codes (moebius.h), shared by the C API
// and the WebAssembly exports.
#pragma once
#include "core/error.h"
#include "moebius.h"

namespace moebius {

inline moebius_status status_of(ErrorKind k) {
    switch (k) {
        case ErrorKind::Invalid: return MOEBIUS_ERR_INVALID;
        case ErrorKind::Io: return MOEBIUS_ERR_IO;
        case ErrorKind::Model: return MOEBIUS_ERR_MODEL;
        case ErrorKind::Image: return MOEBIUS_ERR_IMAGE;
        case ErrorKind::Cancelled: return MOEBIUS_ERR_CANCELLED;
        case ErrorKind::OutOfMemory: return MOEBIUS_ERR_OOM;
        case ErrorKind::Internal: return MOEBIUS_ERR_INTERNAL;
    }
    return MOEBIUS_ERR_INTERNAL;
}

}  // namespace moebius
