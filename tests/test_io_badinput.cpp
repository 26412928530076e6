// Bad weight files: truncated or corrupt archives, hostile pickles, broken safetensors headers,
// weights that do not match their config, files that are not weights at all. Each must give an
// Error whose message names the file and the problem, never a crash, a hang or a partial output.
// The hostile inputs are built by hand here from a known-good construction (checked to load first),
// so each failure is attributable to the one defect it introduces.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/model_file.h"
#include "io/pickle.h"
#include "io/safetensors.h"
#include "io/torch_zip.h"
#include "io/weights.h"
#include "model/unet.h"
#include "model/vae.h"
#include "zip_writer.h"

using namespace moebius;
namespace fs = std::filesystem;

namespace {

const std::string& tmp() {
    static const std::string dir = test::temp_dir();
    return dir;
}

// Runs f, expects an Error of `kind`, prints and returns its message ("" and a failure if none was thrown).
template <class F>
std::string error_of(F&& f, ErrorKind kind = ErrorKind::Model, bool print = true) {
    try {
        f();
    } catch (const Error& e) {
        EXPECT_EQ((int)e.kind, (int)kind) << e.what();
        if (print) std::printf("[error] %s\n", e.what());
        return e.what();
    }
    ADD_FAILURE() << "expected an error";
    return "";
}

#define EXPECT_HAS(msg, sub) EXPECT_NE((msg).find(sub), std::string::npos) << "message: " << (msg)

void write(const std::string& path, const std::vector<uint8_t>& b) { write_file_atomic(path, b.data(), b.size()); }
void write(const std::string& path, const std::string& s) { write_file_atomic(path, s.data(), s.size()); }

// ---- a pickle writer, emitting what torch.save (protocol 2) emits ----

struct Pickle {
    std::string b;
    Pickle& op(char c) { return b.push_back(c), *this; }
    Pickle& u32(uint32_t v) {
        for (int k = 0; k < 4; ++k) b.push_back((char)(v >> (8 * k)));
        return *this;
    }
    Pickle& str(const std::string& s) { return op('X').u32((uint32_t)s.size()), b += s, *this; }
    Pickle& global(const std::string& module, const std::string& name) {
        return op('c'), b += module + "\n" + name + "\n", *this;
    }
    Pickle& integer(int64_t v) {
        if (v >= 0 && v < 256) return op('K').op((char)v);
        if (v >= 0 && v < 65536) return op('M').op((char)(v & 255)).op((char)(v >> 8));
        op('\x8a').op(8);  // LONG1, 8 bytes
        for (int k = 0; k < 8; ++k) b.push_back((char)((uint64_t)v >> (8 * k)));
        return *this;
    }
    Pickle& int_tuple(const Shape& s) {
        op('(');
        for (int64_t d : s) integer(d);
        return op('t');
    }
};

struct FakeTensor {
    std::string name, storage_type = "FloatStorage", key;
    int64_t storage_numel = 0, offset = 0;
    Shape shape, stride;
    bool parameter = false;  // wrap in torch._utils._rebuild_parameter
};

Shape contiguous_stride(const Shape& s) {
    Shape st(s.size());
    int64_t e = 1;
    for (size_t j = s.size(); j-- > 0;) st[j] = e, e *= s[j];
    return st;
}

// The data.pkl of {name: tensor}; as an OrderedDict with _metadata (as state_dict() returns) or a dict.
std::string state_dict_pickle(const std::vector<FakeTensor>& ts, bool ordered_dict) {
    Pickle p;
    p.op('\x80').op(2);
    if (ordered_dict)
        p.global("collections", "OrderedDict").op(')').op('R');
    else
        p.op('}');
    p.op('q').op(0).op('(');
    for (const FakeTensor& t : ts) {
        p.str(t.name);
        if (t.parameter) p.global("torch._utils", "_rebuild_parameter").op('(');
        p.global("torch._utils", "_rebuild_tensor_v2").op('(');
        p.op('(').str("storage").global("torch", t.storage_type).str(t.key).str("cpu").integer(t.storage_numel).op('t');
        p.op('Q').integer(t.offset).int_tuple(t.shape).int_tuple(t.stride.empty() ? contiguous_stride(t.shape)
                                                                                  : t.stride);
        p.op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
        if (t.parameter) p.op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    }
    p.op('u');
    if (ordered_dict) {  // BUILD {'_metadata': OrderedDict({'': {'version': 1}})}, with a float for good measure
        p.op('}').str("_metadata").global("collections", "OrderedDict").op(')').op('R');
        p.str("").op('}').str("version").integer(1).op('s').str("scale").op('G');
        for (int k = 0; k < 8; ++k) p.b.push_back(k == 0 ? '\x3f' : k == 1 ? '\xf0' : '\0');  // 1.0 big-endian
        p.op('s').op('s').op('s').op('b');
    }
    p.op('.');
    return p.b;
}

// A torch.save-like zip: <prefix>/data.pkl, <prefix>/data/<key>, <prefix>/byteorder, <prefix>/version.
void write_zip(const std::string& path, const std::map<std::string, std::string>& entries) {
    write(path, test::make_zip({entries.begin(), entries.end()}));
}

std::string float_bytes(std::initializer_list<float> v) {
    std::string s(v.size() * 4, '\0');
    std::memcpy(s.data(), v.begin(), s.size());
    return s;
}

// Two tensors sharing one storage at different offsets, plus a parameter and an int64 scalar.
std::vector<FakeTensor> good_tensors() {
    return {{"a.weight", "FloatStorage", "0", 6, 0, {2, 2}, {}, false},
            {"b.bias", "FloatStorage", "0", 6, 4, {2}, {}, true},
            {"bn.num_batches_tracked", "LongStorage", "1", 1, 0, {}, {}, false}};
}

std::map<std::string, std::string> good_entries(const std::string& pkl, const std::string& prefix = "archive/") {
    std::string i64(8, '\0');
    i64[0] = 7;
    return {{prefix + "data.pkl", pkl},
            {prefix + "data/0", float_bytes({1, 2, 3, 4, 5, 6})},
            {prefix + "data/1", i64},
            {prefix + "byteorder", "little"},
            {prefix + "version", "3\n"}};
}

}  // namespace

// ---- the hand-built archive loads (the control for everything below) ----

TEST(BadInput, HandBuiltArchiveLoads) {
    for (bool od : {false, true}) {
        const std::string path = tmp() + "/good.bin";
        write_zip(path, good_entries(state_dict_pickle(good_tensors(), od), od ? "removal_model/" : "archive/"));
        StateDict sd = load_torch_bin(path);
        ASSERT_EQ(sd.size(), 3u);
        EXPECT_EQ(sd.at("a.weight").shape, (Shape{2, 2}));
        EXPECT_EQ(sd.at("a.weight").to_f32(), (std::vector<float>{1, 2, 3, 4}));
        EXPECT_EQ(sd.at("b.bias").to_f32(), (std::vector<float>{5, 6}));  // storage offset 4
        EXPECT_EQ(sd.at("bn.num_batches_tracked").dtype, DType::I64);
        EXPECT_EQ(sd.at("bn.num_batches_tracked").to_f32(), (std::vector<float>{7}));
    }
}

// Size-1 dimensions may carry any stride (torch ignores them); larger ones must be row-major.
TEST(BadInput, NonContiguousTensor) {
    auto ts = good_tensors();
    ts[0].shape = {1, 4};
    ts[0].stride = {99, 1};
    const std::string path = tmp() + "/stride.bin";
    write_zip(path, good_entries(state_dict_pickle(ts, false)));
    EXPECT_EQ(load_torch_bin(path).at("a.weight").shape, (Shape{1, 4}));

    ts[0].shape = {2, 2};
    ts[0].stride = {1, 2};  // a transpose
    write_zip(path, good_entries(state_dict_pickle(ts, false)));
    const std::string m = error_of([&] { load_torch_bin(path); });
    EXPECT_HAS(m, "stride.bin");
    EXPECT_HAS(m, "a.weight");
    EXPECT_HAS(m, "not contiguous");
}

TEST(BadInput, TensorOutsideItsStorage) {
    auto ts = good_tensors();
    ts[1].offset = 5;  // elements 5..7 of a 6-element storage
    const std::string path = tmp() + "/offset.bin";
    write_zip(path, good_entries(state_dict_pickle(ts, false)));
    const std::string m = error_of([&] { load_torch_bin(path); });
    EXPECT_HAS(m, "offset.bin");
    EXPECT_HAS(m, "b.bias");
    EXPECT_HAS(m, "outside its storage");
}

TEST(BadInput, StorageMissingOrShort) {
    const std::string path = tmp() + "/storage.bin";
    auto entries = good_entries(state_dict_pickle(good_tensors(), false));
    entries.erase("archive/data/1");
    write_zip(path, entries);
    std::string m = error_of([&] { load_torch_bin(path); });
    EXPECT_HAS(m, "storage.bin");
    EXPECT_HAS(m, "bn.num_batches_tracked");
    EXPECT_HAS(m, "archive/data/1 is missing");

    entries = good_entries(state_dict_pickle(good_tensors(), false));
    entries["archive/data/0"] = float_bytes({1, 2, 3});
    write_zip(path, entries);
    m = error_of([&] { load_torch_bin(path); });
    EXPECT_HAS(m, "a.weight");
    EXPECT_HAS(m, "too short");
}

TEST(BadInput, ArchiveLayout) {
    const std::string path = tmp() + "/layout.bin";
    auto entries = good_entries(state_dict_pickle(good_tensors(), false));
    entries["archive/byteorder"] = "big";
    write_zip(path, entries);
    EXPECT_HAS(error_of([&] { load_torch_bin(path); }), "byteorder is 'big'");

    entries = good_entries(state_dict_pickle(good_tensors(), false));
    entries.erase("archive/data.pkl");
    write_zip(path, entries);
    std::string m = error_of([&] { load_torch_bin(path); });
    EXPECT_HAS(m, "layout.bin");
    EXPECT_HAS(m, "no data.pkl");

    write_zip(path, {{"readme.txt", "hello"}});  // a zip, but not torch's
    EXPECT_HAS(error_of([&] { load_state_dict_file(path); }), "no data.pkl");
}

// ---- hostile pickles ----

TEST(BadInput, ForbiddenGlobal) {
    // The classic: os.system("echo pwned") via GLOBAL + REDUCE.
    Pickle p;
    p.op('\x80').op(2).global("os", "system").str("echo pwned").op('\x85').op('R').op('.');
    std::string m =
        error_of([&] { parse_state_dict_pickle((const uint8_t*)p.b.data(), p.b.size(), "removal_model.bin"); });
    EXPECT_HAS(m, "removal_model.bin: forbidden global 'os.system' in pickle");

    // Inside a real archive, and hidden among good tensors.
    std::string pkl = state_dict_pickle(good_tensors(), true);
    const std::string good = "ccollections\nOrderedDict\n";
    pkl.replace(pkl.rfind(good), good.size(), "cbuiltins\neval\n");
    const std::string path = tmp() + "/removal_model.bin";
    write_zip(path, good_entries(pkl));
    m = error_of([&] { load_state_dict_file(path); });
    EXPECT_HAS(m, "removal_model.bin: forbidden global 'builtins.eval' in pickle");

    // STACK_GLOBAL (protocol 4) goes through the same check.
    Pickle q;
    q.op('\x80').op(4).str("subprocess").str("Popen").op('\x93').op('.');
    m = error_of([&] { parse_state_dict_pickle((const uint8_t*)q.b.data(), q.b.size(), "x.bin"); });
    EXPECT_HAS(m, "forbidden global 'subprocess.Popen'");

    // An allowed storage type is still not callable.
    Pickle r;
    r.op('\x80').op(2).global("torch", "FloatStorage").op(')').op('R').op('.');
    EXPECT_HAS(error_of([&] { parse_state_dict_pickle((const uint8_t*)r.b.data(), r.b.size(), "x.bin"); }),
               "cannot call torch.FloatStorage");
}

// Every prefix of a valid pickle fails cleanly (and none is mistaken for a complete one).
TEST(BadInput, TruncatedPickleAtEveryByte) {
    const std::string pkl = state_dict_pickle(good_tensors(), true);
    ASSERT_EQ(parse_state_dict_pickle((const uint8_t*)pkl.data(), pkl.size(), "p").size(), 3u);
    for (size_t n = 0; n < pkl.size(); ++n) {
        const std::string m = error_of([&] { parse_state_dict_pickle((const uint8_t*)pkl.data(), n, "cut.pkl"); },
                                       ErrorKind::Model, false);
        ASSERT_NE(m.find("cut.pkl: "), std::string::npos) << "cut at " << n << ": " << m;
    }
}

// Structurally odd pickles: errors with a reason, no crash, no runaway memory.
TEST(BadInput, MalformedPickles) {
    auto err = [](const std::string& b) {
        return error_of([&] { parse_state_dict_pickle((const uint8_t*)b.data(), b.size(), "m.pkl"); });
    };
    EXPECT_HAS(err("\x80\x02R."), "stack underflow");
    EXPECT_HAS(err("\x80\x02h\x05."), "memo key 5 was never stored");
    EXPECT_HAS(err("\x80\x02\xff."), "unsupported opcode 0xff");
    EXPECT_HAS(err("\x80\x02t."), "no MARK");
    EXPECT_HAS(err("\x80\x02K\x01."), "pickle holds a int, not a state dict");
    Pickle d;
    d.op('\x80').op(2).op('}').str("a").integer(1).op('s').op('.');
    EXPECT_HAS(err(d.b), "tensor a: is a int, not a tensor");
    EXPECT_HAS(err(std::string("\x80\x02X\xff\xff\xff\xff", 7)), "truncated");
    EXPECT_HAS(err("\x80\x09."), "unsupported pickle protocol 9");
    Pickle a;
    a.op('\x80').op(2).integer(1).integer(2).op('a').op('.');
    EXPECT_HAS(err(a.b), "APPEND on a int");

    // Deep nesting: 200k TUPLE1 on one value; objects live in an arena, so nothing recurses.
    std::string deep = "\x80\x02K\x01" + std::string(200000, '\x85') + ".";
    EXPECT_HAS(err(deep), "not a state dict");
    // A list that contains itself.
    Pickle l;
    l.op('\x80').op(2).op(']').op('q').op(0).op('h').op(0).op('a').op('.');
    EXPECT_HAS(err(l.b), "not a state dict");
    // Persistent id that is not a storage tuple.
    EXPECT_HAS(err("\x80\x02K\x01Q."), "persistent id");
    // Negative LONG1 sizes and absurd numels.
    Pickle p;
    p.op('\x80')
        .op(2)
        .op('(')
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu")
        .integer(-1)
        .op('t')
        .op('Q')
        .op('.');
    EXPECT_HAS(err(p.b), "bad storage size");
}

// ---- the real fixture .bin, truncated and corrupted ----

TEST(BadInput, TruncatedBin) {
    const std::vector<uint8_t> full = read_file(test::fixture("tiny/removal_model.bin"));
    const std::string path = tmp() + "/truncated.bin";
    for (double frac : {0.0, 0.001, 0.1, 0.5, 0.9, 0.999}) {
        const size_t n = std::max<size_t>(2, (size_t)(full.size() * frac));
        write(path, std::vector<uint8_t>(full.begin(), full.begin() + (ptrdiff_t)n));
        const std::string m = error_of([&] { load_state_dict_file(path); });
        EXPECT_HAS(m, "truncated.bin");
        EXPECT_TRUE(m.find("not a zip") != std::string::npos || m.find("truncated") != std::string::npos ||
                    m.find("corrupt") != std::string::npos)
            << m;
    }
    write(path, std::vector<uint8_t>(full.begin(), full.end() - 1));
    EXPECT_HAS(error_of([&] { load_torch_bin(path); }), "truncated.bin");
}

TEST(BadInput, CorruptBin) {
    std::vector<uint8_t> bytes = read_file(test::fixture("tiny/removal_model.bin"));
    const std::string path = tmp() + "/corrupt.bin";
    // A flipped byte inside the tensor data is caught by the zip CRC.
    std::vector<uint8_t> b = bytes;
    b[b.size() / 2] ^= 0x40;
    write(path, b);
    std::string m = error_of([&] { load_torch_bin(path); });
    EXPECT_HAS(m, "corrupt.bin");
    EXPECT_HAS(m, "CRC");
    // A sweep of flips anywhere: each either errors cleanly or (padding bytes) still loads the same.
    int errors = 0;
    for (size_t k = 1; k < 64; ++k) {
        b = bytes;
        b[(b.size() * k) / 64 + k] ^= 0xff;
        write(path, b);
        try {
            load_torch_bin(path);
        } catch (const Error& e) {
            ++errors;
            EXPECT_HAS(std::string(e.what()), "corrupt.bin");
        }
    }
    EXPECT_GE(errors, 60);
}

// ---- safetensors ----

namespace {
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
    std::string s(8, '\0');
    for (int k = 0; k < 8; ++k) s[k] = (char)((uint64_t)header.size() >> (8 * k));
    return s + header + std::string(data_bytes, '\x01');
}
}  // namespace

TEST(BadInput, CorruptSafetensors) {
    const std::string path = tmp() + "/bad.safetensors";
    auto err = [&](const std::string& bytes) {
        write(path, bytes);
        const std::string m = error_of([&] { load_safetensors(path); });
        EXPECT_HAS(m, "bad.safetensors");
        // The in-memory parser says the same.
        const std::string m2 = error_of([&] { parse_safetensors((const uint8_t*)bytes.data(), bytes.size(), path); });
        EXPECT_EQ(m, m2);
        return m;
    };
    const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    write(path, safetensors_bytes(ok, 8));
    EXPECT_EQ(load_safetensors(path).at("t").shape, (Shape{2}));  // the control

    EXPECT_HAS(err("abc"), "too short");
    EXPECT_HAS(err(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10)), "bad safetensors header length");
    EXPECT_HAS(err(safetensors_bytes(ok, 8).substr(0, 30)), "bad safetensors header length");  // cut in the header
    EXPECT_HAS(err(safetensors_bytes(ok, 4)), "tensor t: data_offsets [0,8] outside the data section of 4 bytes");
    EXPECT_HAS(err(safetensors_bytes(ok, 12)), "trailing");
    EXPECT_HAS(err(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
               "tensor t: holds 8 bytes, but F32 [3] needs 12");
    EXPECT_HAS(err(safetensors_bytes(R"({"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8)),
               "tensor t: unsupported dtype \"Q4\"");
    EXPECT_HAS(err(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     8)),
               "overlaps");
    EXPECT_HAS(err(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)), "gap");
    EXPECT_HAS(err(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)), "bad shape");
    EXPECT_HAS(err(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296]
                                     ,"data_offsets":[0,8]}})",
                                     8)),
               "does not fit");
    EXPECT_HAS(err(safetensors_bytes(R"({"t":{"dtype":"F32","shape":[2]}})", 8)),
               "needs dtype, shape and data_offsets");
    EXPECT_HAS(err(safetensors_bytes(R"({"t": [1, 2)", 8)), "not valid JSON");
    EXPECT_HAS(err(safetensors_bytes(R"([1, 2])", 8)), "not a JSON object");
    EXPECT_HAS(err(safetensors_bytes(R"({"__metadata__":{"a":1}})", 0)), "__metadata__ value 'a' is not a string");
}

TEST(BadInput, TruncatedSafetensorsFixture) {
    const std::vector<uint8_t> full = read_file(test::fixture("tiny/removal_model_fp16.safetensors"));
    const std::string path = tmp() + "/cut.safetensors";
    for (size_t n : {(size_t)4, (size_t)100, full.size() / 2, full.size() - 1}) {
        write(path, std::vector<uint8_t>(full.begin(), full.begin() + (ptrdiff_t)n));
        const std::string m = error_of([&] { load_state_dict_file(path); });
        EXPECT_HAS(m, "cut.safetensors");
    }
}

// ---- weights that do not fit the model ----

TEST(BadInput, WrongShapeAndMissingTensor) {
    const std::vector<ParamSpec> table = unet_param_table(builtin_config("tiny").unet);
    StateDict sd = synth_state_dict(table, 1);
    sd["diff_model.conv_in.conv_dw.weight"] = synth_tensor({"x", {9, 1, 3, 2}, DType::F32}, 1);
    sd.erase("embedding_layer.weight");
    sd["extra.weight"] = synth_tensor({"x", {2}, DType::F32}, 1);
    const std::string path = tmp() + "/misfit.safetensors";
    save_safetensors(path, sd, {});
    const std::string m = error_of([&] { check_state_dict(load_state_dict_file(path), table, path); });
    EXPECT_HAS(m, "misfit.safetensors");
    EXPECT_HAS(m, "diff_model.conv_in.conv_dw.weight: expected [9,1,3,3], got [9,1,3,2]");
    EXPECT_HAS(m, "missing (1):\n    embedding_layer.weight");
    EXPECT_HAS(m, "unexpected (1):\n    extra.weight");

    // Through load_model, with the tiny config: same diagnosis, naming the config used.
    const std::string m2 =
        error_of([&] { load_model(path, test::fixture("tiny/vae"), test::fixture("tiny/model_config.json")); });
    EXPECT_HAS(m2, "misfit.safetensors (UNet config: ");
    EXPECT_HAS(m2, "embedding_layer.weight");

    // Tiny weights with the default (full) config: every shape is wrong, and the message says which config.
    const std::string m3 =
        error_of([&] { load_model(test::fixture("tiny/removal_model.bin"), test::fixture("tiny/vae"), ""); });
    EXPECT_HAS(m3, "removal_model.bin (UNet config: built-in \"full\" config)");
    EXPECT_HAS(m3, "wrong shape");
}

TEST(BadInput, VaeConfigDoesNotMatchWeights) {
    const std::string dir = tmp() + "/vae_wide";
    fs::create_directories(dir);
    nlohmann::json cfg = nlohmann::json::parse(read_text_file(test::fixture("tiny/vae/config.json")));
    cfg["block_out_channels"] = {64, 64, 128, 128};
    write(dir + "/config.json", cfg.dump());
    fs::copy_file(test::fixture("tiny/vae/diffusion_pytorch_model.safetensors"),
                  dir + "/diffusion_pytorch_model.safetensors", fs::copy_options::overwrite_existing);
    const std::string m = error_of(
        [&] { load_model(test::fixture("tiny/removal_model.bin"), dir, test::fixture("tiny/model_config.json")); });
    EXPECT_HAS(m, "vae_wide/diffusion_pytorch_model.safetensors");
    EXPECT_HAS(m, "vae_wide/config.json");
    EXPECT_HAS(m, "encoder.conv_in.weight: expected [64,3,3,3], got [32,3,3,3]");
    EXPECT_HAS(m, "wrong shape");

    // A VAE folder without weights, and no folder at all.
    fs::remove(dir + "/diffusion_pytorch_model.safetensors");
    EXPECT_HAS(error_of([&] { load_vae_dir(dir); }), "no diffusion_pytorch_model.safetensors or .bin");
    EXPECT_HAS(error_of([&] { load_model(test::fixture("tiny/removal_model.bin"), "", test::fixture("tiny/model_config.json")); }, ErrorKind::Invalid),
               "need a VAE folder");
}

// ---- files that are not weights ----

TEST(BadInput, NotAModelFile) {
    const std::string png = test::fixture("tiny/image.png");
    std::string m = error_of([&] { load_state_dict_file(png); });
    EXPECT_HAS(m, "image.png: not a PyTorch .bin or .safetensors file");
    EXPECT_HAS(error_of([&] { load_model(png, test::fixture("tiny/vae"), ""); }), "not a PyTorch .bin or .safetensors");
    EXPECT_FALSE(is_model_file(png));

    const std::string empty = tmp() + "/empty.bin";
    write(empty, std::string());
    EXPECT_HAS(error_of([&] { load_state_dict_file(empty); }), "empty.bin: not a PyTorch .bin or .safetensors file");

    const std::string legacy = tmp() + "/legacy.bin";  // pre-1.6 torch.save starts with a pickle
    write(legacy, std::string("\x80\x02\x8a\x0a") + "lp" + "\xfc\x9c" + "F" + "\xf9 j\xa8P\x19.");
    EXPECT_HAS(error_of([&] { load_state_dict_file(legacy); }), "legacy (non-zip) torch.save");

    EXPECT_HAS(error_of([&] { load_state_dict_file(tmp() + "/nope.bin"); }, ErrorKind::Io), "nope.bin");
    EXPECT_HAS(error_of([&] { load_torch_bin(tmp() + "/nope.bin"); }, ErrorKind::Io), "nope.bin");
    EXPECT_HAS(error_of([&] { load_safetensors(tmp() + "/nope.bin"); }, ErrorKind::Io), "nope.bin");
    EXPECT_FALSE(is_model_file(tmp() + "/nope.bin"));
}

// ---- our model file ----

TEST(BadInput, ModelFileMetadata) {
    const ModelConfig cfg = builtin_config("tiny");
    StateDict sd;
    for (const auto& [name, t] : synth_state_dict(unet_param_table(cfg.unet), 1)) sd["unet." + name] = t;
    for (const auto& [name, t] : synth_state_dict(vae_param_table(cfg.vae), 2)) sd["vae." + name] = t;
    const std::string path = tmp() + "/m.safetensors";
    Metadata meta = {{"format", "moebius"}, {"version", "1"}, {"config", to_json(cfg)}};
    save_safetensors(path, sd, meta);
    EXPECT_EQ(load_model_file(path).unet.size(), sd.size() - 244);  // the control

    meta["version"] = "2";
    save_safetensors(path, sd, meta);
    EXPECT_HAS(error_of([&] { load_model_file(path); }), "m.safetensors: unsupported moebius model file version '2'");

    meta = {{"format", "other"}};
    save_safetensors(path, sd, meta);
    EXPECT_HAS(error_of([&] { load_model_file(path); }), "m.safetensors: not a moebius model file");

    meta = {{"format", "moebius"}, {"version", "1"}, {"config", to_json(builtin_config("full"))}};
    save_safetensors(path, sd, meta);
    std::string m = error_of([&] { load_model_file(path); });
    EXPECT_HAS(m, "m.safetensors (unet): weights do not match the model");

    meta["config"] = to_json(cfg);
    sd["stray"] = synth_tensor({"stray", {1}, DType::F32}, 3);
    save_safetensors(path, sd, meta);
    EXPECT_HAS(error_of([&] { load_model_file(path); }), "tensor stray is neither unet.* nor vae.*");

    // A model file passed along with a VAE folder is a usage error.
    sd.erase("stray");
    save_safetensors(path, sd, meta);
    EXPECT_HAS(error_of([&] { load_model(path, test::fixture("tiny/vae"), ""); }, ErrorKind::Invalid),
               "carries its own VAE and config");
}

TEST(BadInput, SaveRefusesAndLeavesNoFile) {
    const ModelConfig cfg = builtin_config("tiny");
    ModelWeights w{cfg, synth_state_dict(unet_param_table(cfg.unet), 1), synth_state_dict(vae_param_table(cfg.vae), 2)};
    HostTensor& t = w.unet.at("embedding_layer.weight");
    const float big = 1e6f;
    std::memcpy(t.bytes.data(), &big, 4);
    const std::string path = tmp() + "/overflow.safetensors";
    std::string m = error_of([&] { save_model_file(path, w, DType::F16); }, ErrorKind::Invalid);
    EXPECT_HAS(m, "overflow.safetensors: tensor unet.embedding_layer.weight");
    EXPECT_HAS(m, "beyond float16's range");
    EXPECT_FALSE(fs::exists(path));
    save_model_file(path, w, DType::F32);  // float32 holds it
    EXPECT_TRUE(is_model_file(path));
    fs::remove(path);

    w.vae.erase("decoder.conv_out.bias");
    m = error_of([&] { save_model_file(path, w, DType::F32); });
    EXPECT_HAS(m, "decoder.conv_out.bias");
    EXPECT_FALSE(fs::exists(path));
    for (const auto& e : fs::directory_iterator(tmp()))
        EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

// ---- random damage: any outcome but a crash or a foreign exception ----

TEST(BadInput, RandomMutationsNeverCrash) {
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    auto next = [&] {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;  // xorshift64
        return rng;
    };
    const std::string pkl = state_dict_pickle(good_tensors(), true);
    const StateDict small = {{"a", HostTensor::from_f32({2, 3}, {1, 2, 3, 4, 5, 6})},
                             {"b", HostTensor::from_f32({1}, {7}).cast(DType::F16)}};
    const std::string st_path = tmp() + "/small.safetensors";
    save_safetensors(st_path, small, {{"k", "v"}});
    const std::vector<uint8_t> st = read_file(st_path);

    int rejected[2] = {0, 0};
    for (int iter = 0; iter < 4000; ++iter) {
        const bool is_pickle = iter % 2 == 0;
        std::vector<uint8_t> b = is_pickle ? std::vector<uint8_t>(pkl.begin(), pkl.end()) : st;
        for (int m = 1 + (int)(next() % 3); m-- > 0;) b[next() % b.size()] = (uint8_t)next();
        if (next() % 4 == 0) b.resize(next() % b.size());
        try {
            if (is_pickle)
                parse_state_dict_pickle(b.data(), b.size(), "fuzz.pkl");
            else
                parse_safetensors(b.data(), b.size(), "fuzz.safetensors");
        } catch (const Error& e) {
            ++rejected[is_pickle ? 0 : 1];
            ASSERT_EQ(std::string(e.what()).rfind(is_pickle ? "fuzz.pkl: " : "fuzz.safetensors: ", 0), 0u) << e.what();
        }
    }
    std::printf("[io] random mutations rejected: pickle %d/2000, safetensors %d/2000 (the rest still parse)\n",
                rejected[0], rejected[1]);
}
