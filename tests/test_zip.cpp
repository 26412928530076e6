// The zip reader (src/io/zip.h) on hand-built archives of every layout it must accept, on the torch.save
// fixture, and on damaged archives: every truncation and every single-byte change of a small archive
// gives a named error or the original contents, never a crash or a wrong read.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/zip.h"
#include "zip_writer.h"

using namespace moebius;

namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

const Entries kEntries = {{"archive/data.pkl", "pickle bytes"},
                          {"archive/data/0", std::string("\x00\x01\x02\x03\xff\xfe", 6)},
                          {"archive/empty", ""},
                          {"archive/byteorder", "little"}};

const std::string& tmp() {
    static const std::string dir = test::temp_dir();
    return dir;
}

ZipReader mem(const std::string& z, const std::string& what = "mem.zip") {
    return ZipReader::from_memory((const uint8_t*)z.data(), z.size(), what);
}

std::string read_str(const ZipReader& r, const std::string& name) {
    const ZipEntry* e = r.find(name);
    if (!e) return "<missing>";
    std::vector<uint8_t> b = r.read(*e, 1 << 20);
    return std::string(b.begin(), b.end());
}

void expect_entries(const ZipReader& r, const Entries& want) {
    ASSERT_EQ(r.entries().size(), want.size());
    for (const auto& [name, data] : want) EXPECT_EQ(read_str(r, name), data) << name;
}

template <class F>
std::string error_of(F&& f, ErrorKind kind = ErrorKind::Model) {
    try {
        f();
    } catch (const Error& e) {
        EXPECT_EQ((int)e.kind, (int)kind) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "expected an error";
    return "";
}

#define EXPECT_HAS(msg, sub) EXPECT_NE((msg).find(sub), std::string::npos) << "message: " << (msg)

}  // namespace

TEST(Zip, Crc32KnownValues) {
    // The CRC-32 check value of the catalogue of parametrised CRCs ("123456789").
    EXPECT_EQ(crc32((const uint8_t*)"123456789", 9), 0xCBF43926u);
    EXPECT_EQ(crc32(nullptr, 0), 0u);
    std::string s(1000, '\0');
    for (size_t i = 0; i < s.size(); ++i) s[i] = (char)(i * 7 + 3);
    const uint8_t* p = (const uint8_t*)s.data();
    const uint32_t whole = crc32(p, s.size());
    for (size_t cut : {0, 1, 7, 8, 9, 500, 999}) EXPECT_EQ(crc32(p + cut, s.size() - cut, crc32(p, cut)), whole) << cut;
    uint32_t bytewise = 0;  // one byte at a time takes the short path only
    for (size_t i = 0; i < s.size(); ++i) bytewise = crc32(p + i, 1, bytewise);
    EXPECT_EQ(bytewise, whole);
}

TEST(Zip, EveryLayoutReads) {
    test::ZipWriteOptions torch_style;
    torch_style.descriptor = torch_style.zip64_end = true;
    torch_style.align = 64;
    test::ZipWriteOptions zip64 = torch_style;
    zip64.zip64_extra = true;
    test::ZipWriteOptions commented;
    static const char kComment[] = "a comment with PK\x05\x06 inside";  // an end-record signature in the comment
    commented.comment = std::string(kComment, sizeof kComment - 1);
    for (const test::ZipWriteOptions& o : {test::ZipWriteOptions{}, torch_style, zip64, commented}) {
        const std::string z = test::make_zip(kEntries, o);
        expect_entries(mem(z), kEntries);
        const std::string path = tmp() + "/layout.zip";
        write_file_atomic(path, z.data(), z.size());
        expect_entries(ZipReader::open(path), kEntries);
    }
    expect_entries(mem(test::make_zip({})), {});
    EXPECT_EQ(mem(test::make_zip(kEntries)).find("archive/nope"), nullptr);
}

TEST(Zip, TorchSaveFixture) {
    const std::string path = test::fixture("tiny/removal_model.bin");
    const ZipReader r = ZipReader::open(path);
    EXPECT_EQ(r.entries().size(), 1209u);  // Python's zipfile lists 1209 entries
    const ZipEntry* bo = r.find("removal_model/byteorder");
    ASSERT_TRUE(bo);
    EXPECT_EQ(bo->crc, 0x19e33d85u);
    EXPECT_EQ(read_str(r, "removal_model/byteorder"), "little");
    const std::vector<uint8_t> bytes = read_file(path);
    const ZipReader m = ZipReader::from_memory(bytes.data(), bytes.size(), "buffer");
    ASSERT_EQ(m.entries().size(), r.entries().size());
    for (size_t i = 0; i < r.entries().size(); ++i)
        ASSERT_EQ(m.read(m.entries()[i], 1 << 30), r.read(r.entries()[i], 1 << 30)) << r.entries()[i].name;
}

TEST(Zip, CompressedEncryptedAndOversizedEntries) {
    test::ZipWriteOptions o;
    o.method = 8;
    const std::string z = test::make_zip(kEntries, o);
    const ZipReader r = mem(z, "deflated.zip");
    std::string m = error_of([&] { r.read(r.entries()[0], 100); });
    EXPECT_HAS(m, "deflated.zip: archive/data.pkl is compressed (zip method 8, deflate)");
    EXPECT_HAS(m, "only stored entries");

    std::string enc = test::make_zip(kEntries);
    enc[6] |= 1, enc[enc.find("PK\x01\x02") + 8] |= 1;  // flag bit 0 in the local and central header
    const ZipReader e = mem(enc);
    EXPECT_HAS(error_of([&] { e.read(e.entries()[0], 100); }), "is encrypted");

    const ZipReader ok = mem(test::make_zip(kEntries));
    EXPECT_HAS(error_of([&] { ok.read(ok.entries()[0], 3); }), "larger than expected (12 bytes, expected at most 3)");
}

TEST(Zip, ForgedSizesAndOffsets) {
    // A size in the central directory beyond the file is refused before anything is allocated.
    std::string z = test::make_zip(kEntries);
    const size_t cd = z.find("PK\x01\x02");
    for (int k = 0; k < 4; ++k) z[cd + 20 + k] = z[cd + 24 + k] = '\xff';  // 0xFFFFFFFF without a zip64 field
    EXPECT_HAS(error_of([&] { mem(z); }), "zip64 extra field missing");
    test::ZipWriteOptions o;
    o.zip64_extra = o.zip64_end = true;
    z = test::make_zip(kEntries, o);
    const size_t extra = z.find("PK\x01\x02") + 46 + kEntries[0].first.size() + 4;
    for (int k = 0; k < 8; ++k) z[extra + k] = z[extra + 8 + k] = k == 6 ? '\x10' : '\0';  // 2^52 bytes
    EXPECT_HAS(error_of([&] { mem(z); }), "runs into the central directory");
    // A local header offset that points elsewhere.
    z = test::make_zip(kEntries);
    z[z.find("PK\x01\x02") + 42] = 5;
    const ZipReader r = mem(z);
    EXPECT_HAS(error_of([&] { r.read(r.entries()[0], 100); }), "no local header at offset 5");
}

TEST(Zip, NotAZip) {
    EXPECT_HAS(error_of([&] { mem("", "empty.zip"); }), "empty.zip: not a zip archive");
    EXPECT_HAS(error_of([&] { mem("hello, this is not a zip archive at all", "text.zip"); }), "not a zip archive");
    EXPECT_HAS(error_of([&] { ZipReader::open(tmp() + "/absent.zip"); }, ErrorKind::Io), "absent.zip");
}

TEST(Zip, EveryTruncationFails) {
    test::ZipWriteOptions o;
    o.descriptor = o.zip64_end = true;
    const std::string z = test::make_zip(kEntries, o);
    for (size_t n = 0; n < z.size(); ++n) {
        const std::string cut = z.substr(0, n);
        const std::string m = error_of([&] {
            const ZipReader r = mem(cut, "cut.zip");
            for (const ZipEntry& e : r.entries()) r.read(e, 1 << 20);
        });
        ASSERT_EQ(m.rfind("cut.zip: ", 0), 0u) << n << ": " << m;
    }
}

TEST(Zip, EveryByteChangeFailsOrReadsTheSame) {
    for (bool torch_style : {false, true}) {
        test::ZipWriteOptions o;
        o.descriptor = o.zip64_end = torch_style;
        const std::string z = test::make_zip(kEntries, o);
        int errors = 0, same = 0;
        for (size_t i = 0; i < z.size(); ++i) {
            std::string b = z;
            b[i] = (char)(b[i] ^ 0x5a);
            try {
                const ZipReader r = mem(b, "flip.zip");
                Entries got;
                for (const ZipEntry& e : r.entries()) {
                    std::vector<uint8_t> d = r.read(e, 1 << 20);
                    got.emplace_back(e.name, std::string(d.begin(), d.end()));
                }
                // Undetectable: fields nobody reads (times, versions, attributes). Names may change only
                // if the same change is made in both headers, which one flip cannot do.
                ASSERT_EQ(got, kEntries) << "flip at " << i;
                ++same;
            } catch (const Error& e) {
                ASSERT_EQ(std::string(e.what()).rfind("flip.zip: ", 0), 0u) << e.what();
                ++errors;
            }
        }
        std::printf("[zip] %s layout, %zu bytes: %d single-byte changes rejected, %d harmless\n",
                    torch_style ? "torch.save" : "plain", z.size(), errors, same);
    }
}
