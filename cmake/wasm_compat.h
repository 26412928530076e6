// Force-included (-include) in the WebAssembly build only: fills gaps of the C++20 library that
// emscripten 3.1.6 ships (libc++ 13). Each piece is a no-op where the library already has it.
#pragma once
#include <bit>
#include <version>

#if !defined(__cpp_lib_bit_cast)
namespace std {
// libc++ 13 lacks std::bit_cast (added in libc++ 14); clang's builtin is what later versions use.
template <class To, class From>
constexpr To bit_cast(const From& from) noexcept {
    static_assert(sizeof(To) == sizeof(From), "bit_cast: sizes differ");
    return __builtin_bit_cast(To, from);
}
}  // namespace std
#endif
