// Errors: one exception type carrying a readable, contextual message.
#pragma once
#include <stdexcept>
#include <string>

namespace moebius {

// Error categories map onto the C API's status codes and the CLI's exit codes.
enum class ErrorKind { Invalid, Io, Model, Image, Cancelled, OutOfMemory, Internal };

struct Error : std::runtime_error {
    ErrorKind kind;
    Error(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

[[noreturn]] inline void fail(ErrorKind k, const std::string& msg) { throw Error(k, msg); }

#define MOEBIUS_CHECK(cond, kind, msg)                      \
    do {                                                    \
        if (!(cond)) ::moebius::fail((kind), (msg));        \
    } while (0)

}  // namespace moebius
