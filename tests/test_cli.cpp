// ctest-labels: unit;cli
// The moebius CLI as a user meets it: every command, and every bad input giving a clear message, a
// documented non-zero exit code and no (partial) output file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fixtures.h"
#include "io/image.h"
#include "io/npy.h"

namespace fs = std::filesystem;
using namespace moebius;

namespace {

struct CliRun {
    int code;
    std::string out;  // stdout + stderr
};

CliRun cli(const std::string& args) {
    const std::string log = test::temp_dir() + "/cli.log";
    const std::string cmd = std::string(MOEBIUS_CLI_PATH) + " " + args + " > " + log + " 2>&1";
    const int st = std::system(cmd.c_str());
    std::ifstream f(log);
    std::string out((std::istreambuf_iterator<char>(f)), {});
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string tmp(const std::string& name) { return test::temp_dir() + "/" + name; }

// A tiny synthetic model file, made once through the CLI itself.
const std::string& tiny_model() {
    static std::string path;
    if (path.empty()) {
        path = tmp("tiny.safetensors");
        CliRun r = cli("synth --config tiny -o " + path);
        EXPECT_EQ(r.code, 0) << r.out;
    }
    return path;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

#define EXPECT_FAILS(run, code_, needle)                                                  \
    do {                                                                                  \
        CliRun _r = (run);                                                                   \
        EXPECT_EQ(_r.code, (code_)) << _r.out;                                            \
        EXPECT_NE(_r.out.find(needle), std::string::npos) << "message: " << _r.out;      \
    } while (0)

}  // namespace

TEST(Cli, HelpForEveryCommand) {
    for (const char* c : {"", "inpaint ", "convert ", "synth ", "info ", "serve "}) {
        CliRun r = cli(std::string(c) + "--help");
        EXPECT_EQ(r.code, 0) << c;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
    }
    EXPECT_EQ(cli("").code, 2);
    EXPECT_EQ(cli("frobnicate").code, 2);
}

TEST(Cli, SynthInfoConvert) {
    CliRun info = cli("info " + tiny_model());
    EXPECT_EQ(info.code, 0) << info.out;
    EXPECT_NE(info.out.find("UNet:        2914383 parameters"), std::string::npos) << info.out;  // fixtures README
    EXPECT_NE(info.out.find("VAE:         1399879 parameters"), std::string::npos) << info.out;
    // convert: upstream tiny files -> our f16 file, loadable by info.
    const std::string out = tmp("converted.safetensors");
    CliRun cv = cli("convert -m " + test::fixture("tiny/removal_model.bin") + " --vae " + test::fixture("tiny/vae") +
                 " --config " + test::fixture("tiny/model_config.json") + " -o " + out);
    EXPECT_EQ(cv.code, 0) << cv.out;
    EXPECT_EQ(cli("info " + out).code, 0);
}

TEST(Cli, InpaintImageAndFolder) {
    const std::string out = tmp("out.png");
    CliRun r = cli("inpaint -q -m " + tiny_model() + " -i " + test::fixture("tiny/image.png") + " --mask " +
                test::fixture("tiny/mask.png") + " -o " + out + " --steps 2 --strength 1");
    ASSERT_EQ(r.code, 0) << r.out;
    Image img = load_image(out);
    EXPECT_EQ(img.width, 512);
    // Folder mode: images paired with masks by name.
    fs::create_directories(tmp("in"));
    fs::create_directories(tmp("masks"));
    Image small(64, 40, 3, 90), mask(64, 40, 1, 0);
    for (int y = 10; y < 20; ++y)
        for (int x = 10; x < 30; ++x) mask.at(x, y) = 255;
    save_image(tmp("in/a.png"), small);
    save_image(tmp("in/b.jpg"), small);
    save_image(tmp("masks/a.png"), mask);
    save_image(tmp("masks/b.png"), mask);
    r = cli("inpaint -q -m " + tiny_model() + " -i " + tmp("in") + " --mask " + tmp("masks") + " -o " + tmp("outdir") +
            " --steps 1 --strength 1");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(load_image(tmp("outdir/a.png")).width, 64);
    EXPECT_EQ(load_image(tmp("outdir/b.png")).height, 40);
}

TEST(Cli, BadModelFiles) {
    const std::string img = test::fixture("tiny/image.png"), mask = test::fixture("tiny/mask.png");
    auto inpaint = [&](const std::string& model, const std::string& out) {
        return cli("inpaint -q -m " + model + " -i " + img + " --mask " + mask + " -o " + out);
    };
    const std::string out = tmp("never.png");
    EXPECT_FAILS(inpaint(tmp("missing.safetensors"), out), 3, "missing.safetensors");
    write_bytes(tmp("junk.bin"), "this is not a model");
    EXPECT_FAILS(inpaint(tmp("junk.bin"), out), 4, "junk.bin");
    // A truncated upstream .bin.
    std::ifstream src(test::fixture("tiny/removal_model.bin"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(src)), {});
    write_bytes(tmp("cut.bin"), bytes.substr(0, bytes.size() / 2));
    EXPECT_FAILS(cli("inpaint -q -m " + tmp("cut.bin") + " --vae " + test::fixture("tiny/vae") + " --config " +
                     test::fixture("tiny/model_config.json") + " -i " + img + " --mask " + mask + " -o " + out),
                 4, "cut.bin");
    // Upstream UNet of one size with the default (full) config: every tensor mis-shaped, listed.
    EXPECT_FAILS(cli("inpaint -q -m " + test::fixture("tiny/removal_model.bin") + " --vae " + test::fixture("tiny/vae") +
                     " -i " + img + " --mask " + mask + " -o " + out),
                 4, "expected [320,9,1,1]");
    EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, BadImages) {
    const std::string out = tmp("never.png");
    auto inpaint = [&](const std::string& img, const std::string& mask) {
        return cli("inpaint -q -m " + tiny_model() + " -i " + img + " --mask " + mask + " -o " + out);
    };
    write_bytes(tmp("notimage.png"), "hello, I am text");
    EXPECT_FAILS(inpaint(tmp("notimage.png"), test::fixture("tiny/mask.png")), 5, "notimage.png");
    EXPECT_FAILS(inpaint(tmp("nothere.png"), test::fixture("tiny/mask.png")), 3, "nothere.png");
    save_image(tmp("wide_mask.png"), Image(600, 512, 1, 255));
    EXPECT_FAILS(inpaint(test::fixture("tiny/image.png"), tmp("wide_mask.png")), 5, "mask is 600x512 but the image is 512x512");
    // A PNG whose header claims 20000×20000: refused from the header, before any allocation.
    Image one(1, 1, 3, 7);
    save_image(tmp("one.png"), one);
    std::ifstream f(tmp("one.png"), std::ios::binary);
    std::string png((std::istreambuf_iterator<char>(f)), {});
    for (int i = 0; i < 2; ++i) {  // IHDR width and height at offsets 16 and 20 (big-endian); CRC not fixed:
        png[16 + 4 * i] = 0;       // the size check must come before the CRC is even looked at
        png[17 + 4 * i] = 0;
        png[18 + 4 * i] = (char)0x4e;
        png[19 + 4 * i] = (char)0x20;
    }
    write_bytes(tmp("bomb.png"), png);
    EXPECT_FAILS(inpaint(tmp("bomb.png"), tmp("bomb.png")), 5, "20000x20000");
    EXPECT_FALSE(fs::exists(out));
    // A 1×1 image is valid input: it is inpainted (whole mode) and comes back 1×1.
    save_image(tmp("one_mask.png"), Image(1, 1, 1, 255));
    CliRun r = cli("inpaint -q -m " + tiny_model() + " -i " + tmp("one.png") + " --mask " + tmp("one_mask.png") + " -o " +
                tmp("one_out.png") + " --steps 1 --strength 1");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(load_image(tmp("one_out.png")).width, 1);
}

TEST(Cli, BadOptionsAndOutputs) {
    const std::string base = "inpaint -q -m " + tiny_model() + " -i " + test::fixture("tiny/image.png") + " --mask " +
                             test::fixture("tiny/mask.png");
    EXPECT_FAILS(cli(base + " -o /nonexistent-dir/out.png --steps 1 --strength 1"), 3, "/nonexistent-dir/out.png");
    EXPECT_FALSE(fs::exists("/nonexistent-dir"));
    EXPECT_FAILS(cli(base + " -o " + tmp("x.bmp") + " --steps 1 --strength 1"), 2, "x.bmp");
    EXPECT_FALSE(fs::exists(tmp("x.bmp")));
    EXPECT_EQ(cli(base + " -o " + tmp("x.png") + " --steps 0").code, 2);
    EXPECT_EQ(cli(base + " -o " + tmp("x.png") + " --mode sideways").code, 2);
    save_npy(tmp("noise.npy"), HostTensor::from_f32({1, 4, 8, 8}, std::vector<float>(256, 0.f)));
    EXPECT_FAILS(cli(base + " -o " + tmp("x.png") + " --noise " + tmp("noise.npy")), 2, "(1,4,64,64)");
    EXPECT_FALSE(fs::exists(tmp("x.png")));
}
