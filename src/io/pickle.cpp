#include "io/pickle.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

#include "core/error.h"

namespace moebius {
namespace {

// Caps that keep a hostile pickle from exhausting memory. The full model's data.pkl holds about
// 1,200 tensors: ~20k objects, ~10k memo entries, a stack a few dozen deep.
constexpr size_t kMaxObjects = size_t(1) << 22;
constexpr size_t kMaxStack = size_t(1) << 20;
constexpr size_t kMaxMarks = size_t(1) << 16;
constexpr size_t kMaxMemo = size_t(1) << 22;
constexpr size_t kMaxGlobalLine = 256;
constexpr int64_t kMaxNumel = int64_t(1) << 40;  // elements in one storage or tensor
constexpr size_t kMaxDims = 16;

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None:
            return "None";
        case Kind::Bool:
            return "bool";
        case Kind::Int:
            return "int";
        case Kind::Float:
            return "float";
        case Kind::Str:
            return "str";
        case Kind::Tuple:
            return "tuple";
        case Kind::List:
            return "list";
        case Kind::Dict:
            return "dict";
        case Kind::Global:
            return "global";
        case Kind::Storage:
            return "storage";
        case Kind::Tensor:
            return "tensor";
    }
    return "?";
}

// What an allowed global is.
enum class Callable : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, StorageType };

struct AllowedGlobal {
    const char* name;
    Callable what;
    DType dtype;  // StorageType only
};

// Everything a state dict written by torch.save needs; nothing else is accepted.
constexpr AllowedGlobal kAllowed[] = {
    {"collections.OrderedDict", Callable::OrderedDict, DType::F32},
    {"torch._utils._rebuild_tensor_v2", Callable::RebuildTensorV2, DType::F32},
    {"torch._utils._rebuild_parameter", Callable::RebuildParameter, DType::F32},
    {"torch.FloatStorage", Callable::StorageType, DType::F32},
    {"torch.HalfStorage", Callable::StorageType, DType::F16},
    {"torch.BFloat16Storage", Callable::StorageType, DType::BF16},
    {"torch.DoubleStorage", Callable::StorageType, DType::F64},
    {"torch.LongStorage", Callable::StorageType, DType::I64},
    {"torch.IntStorage", Callable::StorageType, DType::I32},
    {"torch.ByteStorage", Callable::StorageType, DType::U8},
    {"torch.BoolStorage", Callable::StorageType, DType::BOOL},
};

// One unpickled object. Objects live in an arena and refer to each other by index, so sharing
// (memo) and even cycles are harmless and nothing is destroyed recursively.
struct Object {
    Kind kind = Kind::None;
    int64_t i = 0;                // Bool, Int; Storage: numel; Tensor: storage offset
    double f = 0;                 // Float
    std::string s;                // Str; Global: "module.name"; Storage: key
    std::vector<uint32_t> items;  // Tuple, List; Dict: key, value, key, value, ...; Tensor: storage
    Callable callable{};          // Global
    DType dtype = DType::F32;     // Global (storage type), Storage
    Shape size, stride;           // Tensor
};

class Unpickler {
   public:
    Unpickler(const uint8_t* data, size_t size, const std::string& what) : p_(data), n_(size), what_(what) {}

    std::vector<PickledTensor> run() {
        for (;;) {
            op_pos_ = pos_;
            const uint8_t op = u(1);
            switch (op) {
                case 0x80: {  // PROTO
                    const uint64_t v = u(1);
                    if (v > 5) bad("unsupported pickle protocol " + std::to_string(v));
                    break;
                }
                case 0x95:  // FRAME (protocol 4): a size hint only
                    take(8);
                    break;
                case '.': {  // STOP
                    const uint32_t root = pop();
                    return finish(root);
                }
                case '(':  // MARK
                    if (marks_.size() >= kMaxMarks) bad("too many nested marks");
                    marks_.push_back(stack_.size());
                    break;
                case '0':  // POP
                    pop();
                    break;
                case '1':  // POP_MARK
                    pop_mark();
                    break;
                case 'N':  // NONE
                    push(Object{});
                    break;
                case 0x88:  // NEWTRUE
                    push_int(Kind::Bool, 1);
                    break;
                case 0x89:  // NEWFALSE
                    push_int(Kind::Bool, 0);
                    break;
                case 'K':  // BININT1
                    push_int(Kind::Int, (int64_t)u(1));
                    break;
                case 'M':  // BININT2
                    push_int(Kind::Int, (int64_t)u(2));
                    break;
                case 'J':  // BININT
                    push_int(Kind::Int, (int64_t)(int32_t)(uint32_t)u(4));
                    break;
                case 0x8a: {  // LONG1: n-byte little-endian two's complement
                    const size_t nb = u(1);
                    if (nb > 8) bad("integer wider than 64 bits");
                    uint64_t v = nb ? u(nb) : 0;
                    if (nb && nb < 8 && (v >> (8 * nb - 1)) & 1) v |= ~uint64_t(0) << (8 * nb);  // sign-extend
                    push_int(Kind::Int, (int64_t)v);
                    break;
                }
                case 'G': {  // BINFLOAT: 8-byte big-endian double
                    const uint8_t* b = take(8);
                    uint64_t bits = 0;
                    for (int k = 0; k < 8; ++k) bits = bits << 8 | b[k];
                    Object o;
                    o.kind = Kind::Float;
                    std::memcpy(&o.f, &bits, 8);
                    push(std::move(o));
                    break;
                }
                case 'X':  // BINUNICODE
                    push_str(u(4));
                    break;
                case 0x8c:  // SHORT_BINUNICODE
                    push_str(u(1));
                    break;
                case 0x8d:  // BINUNICODE8
                    push_str(u(8));
                    break;
                case ')':  // EMPTY_TUPLE
                    push_seq(Kind::Tuple, {});
                    break;
                case ']':  // EMPTY_LIST
                    push_seq(Kind::List, {});
                    break;
                case '}':  // EMPTY_DICT
                    push_seq(Kind::Dict, {});
                    break;
                case 't':  // TUPLE
                    push_seq(Kind::Tuple, pop_mark());
                    break;
                case 'l':  // LIST
                    push_seq(Kind::List, pop_mark());
                    break;
                case 'd': {  // DICT
                    std::vector<uint32_t> kv = pop_mark();
                    if (kv.size() % 2) bad("DICT with an odd number of items");
                    push_seq(Kind::Dict, std::move(kv));
                    break;
                }
                case 0x85:
                case 0x86:
                case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
                    std::vector<uint32_t> items(op - 0x84);
                    for (size_t k = items.size(); k-- > 0;) items[k] = pop();
                    push_seq(Kind::Tuple, std::move(items));
                    break;
                }
                case 'a': {  // APPEND
                    const uint32_t v = pop();
                    add_items(Kind::List, {v});
                    break;
                }
                case 'e':  // APPENDS
                    add_items(Kind::List, pop_mark());
                    break;
                case 's': {  // SETITEM
                    const uint32_t v = pop(), k = pop();
                    add_items(Kind::Dict, {k, v});
                    break;
                }
                case 'u': {  // SETITEMS
                    std::vector<uint32_t> kv = pop_mark();
                    if (kv.size() % 2) bad("SETITEMS with an odd number of items");
                    add_items(Kind::Dict, std::move(kv));
                    break;
                }
                case 'q':  // BINPUT
                    memo_put(u(1));
                    break;
                case 'r':  // LONG_BINPUT
                    memo_put(u(4));
                    break;
                case 0x94:  // MEMOIZE
                    memo_put(memo_.size());
                    break;
                case 'h':  // BINGET
                    memo_get(u(1));
                    break;
                case 'j':  // LONG_BINGET
                    memo_get(u(4));
                    break;
                case 'c': {  // GLOBAL "module\nname\n"
                    std::string module = line();
                    std::string name = line();
                    push_global(module, name);
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    const uint32_t name = pop(), module = pop();
                    if (obj(module).kind != Kind::Str || obj(name).kind != Kind::Str)
                        bad("STACK_GLOBAL needs two strings");
                    push_global(obj(module).s, obj(name).s);
                    break;
                }
                case 'R': {  // REDUCE: fn(*args)
                    const uint32_t args = pop(), fn = pop();
                    reduce(fn, args);
                    break;
                }
                case 'b': {  // BUILD: only OrderedDict's __dict__ (state_dict()._metadata) is expected
                    const uint32_t state = pop();
                    const Kind target = obj(top()).kind, sk = obj(state).kind;
                    if (target != Kind::Dict || (sk != Kind::Dict && sk != Kind::None))
                        bad(std::string("BUILD of a ") + kind_name(target) + " from a " + kind_name(sk) +
                            " is not supported");
                    break;  // the state (e.g. {'_metadata': ...}) carries nothing we need
                }
                case 'Q': {  // BINPERSID
                    const uint32_t pid = pop();
                    persistent_load(pid);
                    break;
                }
                default: {
                    char hex[8];
                    std::snprintf(hex, sizeof hex, "0x%02x", op);
                    bad(std::string("unsupported opcode ") + hex);
                }
            }
        }
    }

   private:
    const uint8_t* p_;
    size_t n_, pos_ = 0, op_pos_ = 0;
    const std::string& what_;
    std::vector<Object> objects_;
    std::vector<uint32_t> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, uint32_t> memo_;

    [[noreturn]] void bad(const std::string& msg) const {
        fail(ErrorKind::Model, what_ + ": malformed pickle: " + msg + " (at byte " + std::to_string(op_pos_) + ")");
    }

    const uint8_t* take(uint64_t k) {
        if (k > n_ - pos_) bad("truncated");
        const uint8_t* r = p_ + pos_;
        pos_ += k;
        return r;
    }
    uint64_t u(size_t k) {  // little-endian unsigned of k <= 8 bytes
        const uint8_t* b = take(k);
        uint64_t v = 0;
        for (size_t j = k; j-- > 0;) v = v << 8 | b[j];
        return v;
    }
    std::string line() {
        const uint8_t* start = p_ + pos_;
        const size_t avail = std::min(n_ - pos_, kMaxGlobalLine);
        const void* nl = std::memchr(start, '\n', avail);
        if (!nl) bad(avail == n_ - pos_ ? "truncated" : "GLOBAL name too long");
        const size_t len = (const uint8_t*)nl - start;
        pos_ += len + 1;
        return std::string((const char*)start, len);
    }

    Object& obj(uint32_t idx) { return objects_[idx]; }
    uint32_t top() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) bad("stack underflow");
        return stack_.back();
    }
    uint32_t pop() {
        const uint32_t v = top();
        stack_.pop_back();
        return v;
    }
    std::vector<uint32_t> pop_mark() {
        if (marks_.empty()) bad("no MARK on the stack");
        std::vector<uint32_t> items(stack_.begin() + (ptrdiff_t)marks_.back(), stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    void push_ref(uint32_t idx) {
        if (stack_.size() >= kMaxStack) bad("stack too deep");
        stack_.push_back(idx);
    }
    void push(Object o) {
        if (objects_.size() >= kMaxObjects) bad("too many objects");
        objects_.push_back(std::move(o));
        push_ref((uint32_t)(objects_.size() - 1));
    }
    void push_int(Kind k, int64_t v) {
        Object o;
        o.kind = k;
        o.i = v;
        push(std::move(o));
    }
    void push_str(uint64_t len) {
        Object o;
        o.kind = Kind::Str;
        const uint8_t* b = take(len);
        o.s.assign((const char*)b, len);
        push(std::move(o));
    }
    void push_seq(Kind k, std::vector<uint32_t> items) {
        Object o;
        o.kind = k;
        o.items = std::move(items);
        push(std::move(o));
    }
    void add_items(Kind want, std::vector<uint32_t> items) {
        Object& target = obj(top());
        if (target.kind != want)
            bad(std::string(want == Kind::List ? "APPEND" : "SETITEM") + " on a " + kind_name(target.kind));
        target.items.insert(target.items.end(), items.begin(), items.end());
    }
    void memo_put(uint64_t key) {
        if (memo_.size() >= kMaxMemo && !memo_.count(key)) bad("memo too large");
        memo_[key] = top();
    }
    void memo_get(uint64_t key) {
        auto it = memo_.find(key);
        if (it == memo_.end()) bad("memo key " + std::to_string(key) + " was never stored");
        push_ref(it->second);
    }

    void push_global(const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        for (const AllowedGlobal& g : kAllowed) {
            if (full == g.name) {
                Object o;
                o.kind = Kind::Global;
                o.s = full;
                o.callable = g.what;
                o.dtype = g.dtype;
                push(std::move(o));
                return;
            }
        }
        fail(ErrorKind::Model,
             what_ + ": forbidden global '" + full + "' in pickle (only a plain state dict of tensors is accepted)");
    }

    // ('storage', storage_type, key, location, numel) -> a storage reference
    void persistent_load(uint32_t pid) {
        const Object& t = obj(pid);
        if (t.kind != Kind::Tuple || t.items.size() != 5)
            bad("persistent id is not a 5-tuple ('storage', type, key, location, numel)");
        const Object &tag = obj(t.items[0]), &type = obj(t.items[1]), &key = obj(t.items[2]), &n = obj(t.items[4]);
        if (tag.kind != Kind::Str || tag.s != "storage") bad("persistent id is not a storage");
        if (type.kind != Kind::Global || type.callable != Callable::StorageType)
            bad("persistent id without a storage type");
        if (key.kind != Kind::Str || key.s.empty() || key.s.size() > 64) bad("bad storage key");
        for (char c : key.s)
            if (!std::isalnum((unsigned char)c) && c != '_') bad("bad storage key '" + key.s + "'");
        if (n.kind != Kind::Int || n.i < 0 || n.i > kMaxNumel) bad("bad storage size");
        Object o;
        o.kind = Kind::Storage;
        o.s = key.s;
        o.dtype = type.dtype;
        o.i = n.i;
        push(std::move(o));
    }

    Shape int_tuple(uint32_t idx, const char* what) {
        const Object& t = obj(idx);
        if (t.kind != Kind::Tuple || t.items.size() > kMaxDims) bad(std::string("_rebuild_tensor_v2: bad ") + what);
        Shape s;
        for (uint32_t e : t.items) {
            const Object& d = obj(e);
            if (d.kind != Kind::Int || d.i < 0 || d.i > kMaxNumel) bad(std::string("_rebuild_tensor_v2: bad ") + what);
            s.push_back(d.i);
        }
        return s;
    }

    void reduce(uint32_t fn, uint32_t args_idx) {
        const Object& f = obj(fn);
        if (f.kind != Kind::Global) bad(std::string("REDUCE on a ") + kind_name(f.kind));
        if (obj(args_idx).kind != Kind::Tuple) bad("REDUCE arguments are not a tuple");
        const std::vector<uint32_t> args = obj(args_idx).items;  // copy: push() may move objects_
        switch (f.callable) {
            case Callable::OrderedDict:
                if (!args.empty()) bad("OrderedDict() with arguments");
                push_seq(Kind::Dict, {});
                return;
            case Callable::RebuildParameter:  // (data, requires_grad, backward_hooks)
                if (args.size() != 3 || obj(args[0]).kind != Kind::Tensor) bad("_rebuild_parameter: bad arguments");
                push_ref(args[0]);
                return;
            case Callable::RebuildTensorV2: {  // (storage, offset, size, stride, requires_grad, hooks[, metadata])
                if (args.size() != 6 && args.size() != 7) bad("_rebuild_tensor_v2: expected 6 or 7 arguments");
                if (obj(args[0]).kind != Kind::Storage) bad("_rebuild_tensor_v2: first argument is not a storage");
                const Object& off = obj(args[1]);
                if (off.kind != Kind::Int || off.i < 0 || off.i > kMaxNumel)
                    bad("_rebuild_tensor_v2: bad storage offset");
                Object o;
                o.kind = Kind::Tensor;
                o.items = {args[0]};
                o.i = off.i;
                o.size = int_tuple(args[2], "size");
                o.stride = int_tuple(args[3], "stride");
                if (o.size.size() != o.stride.size()) bad("_rebuild_tensor_v2: size and stride differ in length");
                push(std::move(o));
                return;
            }
            case Callable::StorageType:
                bad("cannot call " + f.s);
        }
    }

    // The root must be {name: tensor}; each tensor a contiguous slice inside its storage.
    std::vector<PickledTensor> finish(uint32_t root) {
        const Object& d = obj(root);
        if (d.kind != Kind::Dict)
            fail(ErrorKind::Model, what_ + ": pickle holds a " + std::string(kind_name(d.kind)) + ", not a state dict");
        std::vector<PickledTensor> out;
        std::map<std::string, size_t> seen;
        std::map<std::string, std::pair<DType, int64_t>> storages;
        for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
            const Object &key = obj(d.items[k]), &val = obj(d.items[k + 1]);
            if (key.kind != Kind::Str)
                fail(ErrorKind::Model,
                     what_ + ": state dict key is a " + std::string(kind_name(key.kind)) + ", not a string");
            const std::string& name = key.s;
            auto tfail = [&](const std::string& m) { fail(ErrorKind::Model, what_ + ": tensor " + name + ": " + m); };
            if (val.kind != Kind::Tensor) tfail(std::string("is a ") + kind_name(val.kind) + ", not a tensor");
            if (!seen.emplace(name, out.size()).second) tfail("appears twice");
            const Object& st = obj(val.items[0]);

            PickledTensor t;
            t.name = name;
            t.dtype = st.dtype;
            t.storage_key = st.s;
            t.storage_numel = st.i;
            t.offset = val.i;
            t.shape = val.size;
            int64_t n = 1;
            for (int64_t dim : t.shape) {
                if (dim && n > kMaxNumel / dim) tfail("too large");
                n *= dim;
            }
            // Contiguous row-major; like torch, ignore the stride of size-1 dimensions.
            int64_t expect = 1;
            for (size_t j = t.shape.size(); j-- > 0;) {
                if (n && t.shape[j] != 1 && val.stride[j] != expect)
                    tfail("not contiguous (size " + shape_str(t.shape) + ", stride " + shape_str(val.stride) + ")");
                expect *= t.shape[j];
            }
            if (t.offset + n > t.storage_numel)
                tfail("elements " + std::to_string(t.offset) + ".." + std::to_string(t.offset + n) +
                      " lie outside its storage of " + std::to_string(t.storage_numel));
            auto [it, fresh] = storages.emplace(t.storage_key, std::make_pair(t.dtype, t.storage_numel));
            if (!fresh && it->second != std::make_pair(t.dtype, t.storage_numel))
                tfail("storage " + t.storage_key + " is declared with two different types or sizes");
            out.push_back(std::move(t));
        }
        return out;
    }
};

}  // namespace

std::vector<PickledTensor> parse_state_dict_pickle(const uint8_t* data, size_t size, const std::string& what) {
    return Unpickler(data, size, what).run();
}

}  // namespace moebius
