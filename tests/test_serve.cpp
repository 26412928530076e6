// ctest-labels: unit;cli
// `moebius serve` as a browser and a LAN client meet it: the app with the cross-origin isolation
// headers and MIME types, a model folder under /models/ with CORS, byte ranges (resumed downloads),
// paths that try to leave the served folders, a second server on a taken port, and a clean stop on
// SIGTERM. The server is the real binary on a free port; requests are raw HTTP/1.1 over a socket, so
// the bytes on the wire are exactly those written here (no client-side path normalisation).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "fixtures.h"

namespace fs = std::filesystem;

namespace {

struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string header(const std::string& k) const {
        auto it = headers.find(k);
        return it == headers.end() ? "" : it->second;
    }
};

// One request on a fresh connection ("Connection: close": the reply ends at EOF).
Reply request(int port, const std::string& method, const std::string& path, const std::string& extra = "") {
    Reply r;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (sockaddr*)&a, sizeof a) != 0) {
        close(fd);
        ADD_FAILURE() << "cannot connect to port " << port;
        return r;
    }
    const std::string req =
        method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + extra + "\r\n";
    EXPECT_EQ(send(fd, req.data(), req.size(), 0), (ssize_t)req.size());
    std::string raw;
    char buf[65536];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, (size_t)n);
    close(fd);
    const size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) {
        ADD_FAILURE() << method << " " << path << ": not an HTTP reply: " << raw.substr(0, 200);
        return r;
    }
    r.status = std::stoi(raw.substr(9, 3));
    for (size_t i = raw.find("\r\n") + 2; i < end;) {
        const size_t eol = raw.find("\r\n", i), colon = raw.find(':', i);
        std::string k = raw.substr(i, colon - i);
        for (char& c : k) c = (char)std::tolower((unsigned char)c);
        r.headers[k] = raw.substr(colon + 2, eol - colon - 2);
        i = eol + 2;
    }
    r.body = raw.substr(end + 4);
    return r;
}

void write_file(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
}

// `moebius serve ARGS` in a child process; the port comes from its first line of output.
struct Server {
    pid_t pid = -1;
    int port = 0;
    FILE* out = nullptr;
    std::string printed;

    explicit Server(const std::string& args) {
        int fds[2];
        if (pipe(fds) != 0) return;
        pid = fork();
        if (pid == 0) {
            dup2(fds[1], 1);
            dup2(fds[1], 2);
            close(fds[0]);
            execl("/bin/sh", "sh", "-c", (std::string("exec ") + MOEBIUS_CLI_PATH + " serve " + args).c_str(),
                  (char*)nullptr);
            _exit(127);
        }
        close(fds[1]);
        out = fdopen(fds[0], "r");
        // Up to the last line of its start-up message, or its end.
        char line[1024];
        while (fgets(line, sizeof line, out)) {
            printed += line;
            const char* url = std::strstr(line, "Moebius web app: http://127.0.0.1:");
            if (url) port = std::atoi(url + std::strlen("Moebius web app: http://127.0.0.1:"));
            if (std::strstr(line, "Ctrl+C stops")) break;
        }
    }
    // The exit code after SIGTERM (or on its own), and everything it printed.
    int stop(bool signal = true) {
        if (signal) kill(pid, SIGTERM);
        int st = 0;
        waitpid(pid, &st, 0);
        char line[1024];
        while (fgets(line, sizeof line, out)) printed += line;
        fclose(out);
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    ~Server() {
        if (pid > 0) stop();
    }
};

class Serve : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new fs::path(moebius::test::temp_dir() + "/serve");
        const fs::path app = *dir_ / "dist", models = *dir_ / "models";
        write_file(app / "index.html", "<!doctype html><title>Moebius</title>");
        write_file(app / "engine/moebius.wasm", std::string("\0asm\1\0\0\0", 8));
        write_file(app / "lib/mask.js", "export const x = 1;\n");
        write_file(app / "worker.mjs", "self.onmessage = () => {};\n");
        write_file(app / "manifest.webmanifest", "{}");
        model_ = new std::string(100000, '\0');
        for (size_t i = 0; i < model_->size(); ++i) (*model_)[i] = (char)(i * 7 + i / 251);
        write_file(models / "moebius-f16.safetensors", *model_);
        write_file(models / "Moebius/ft_places2/diffusion_pytorch_model.bin", "unet");
        write_file(models / "PixelHacker/vae/config.json", "{}");
        write_file(*dir_ / "secret.txt", "SECRET-OUTSIDE-THE-ROOT");  // next to both served folders
        server_ = new Server("--root " + app.string() + " --models " + models.string() + " --port 0");
        ASSERT_GT(server_->port, 0) << server_->printed;
    }
    static void TearDownTestSuite() {
        delete server_;
        delete model_;
        delete dir_;
    }
    static int port() { return server_->port; }

    static fs::path* dir_;
    static std::string* model_;
    static Server* server_;
};
fs::path* Serve::dir_ = nullptr;
std::string* Serve::model_ = nullptr;
Server* Serve::server_ = nullptr;

}  // namespace

TEST_F(Serve, PrintsWhereTheAppAndTheModelsAre) {
    const std::string& p = server_->printed;
    EXPECT_NE(p.find("models/moebius-f16.safetensors"), std::string::npos) << p;
    EXPECT_NE(p.find("Moebius base URL http://127.0.0.1:" + std::to_string(port()) + "/models/Moebius/"),
              std::string::npos)
        << p;
    EXPECT_NE(p.find("/models/PixelHacker/vae/"), std::string::npos) << p;
}

TEST_F(Serve, AppWithIsolationHeadersAndMimeTypes) {
    Reply r = request(port(), "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "<!doctype html><title>Moebius</title>");
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(r.header("cross-origin-opener-policy"), "same-origin");
    EXPECT_EQ(r.header("cross-origin-embedder-policy"), "require-corp");
    EXPECT_EQ(r.header("cross-origin-resource-policy"), "same-origin");
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
    Reply w = request(port(), "GET", "/engine/moebius.wasm");
    EXPECT_EQ(w.status, 200);
    EXPECT_EQ(w.header("content-type"), "application/wasm");  // WebAssembly.instantiateStreaming needs it
    EXPECT_EQ(w.body, std::string("\0asm\1\0\0\0", 8));
    EXPECT_EQ(request(port(), "GET", "/lib/mask.js").header("content-type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(request(port(), "GET", "/worker.mjs").header("content-type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(request(port(), "GET", "/manifest.webmanifest").header("content-type"), "application/manifest+json");
    Reply dir = request(port(), "GET", "/lib");
    EXPECT_EQ(dir.status, 301);
    EXPECT_EQ(dir.header("location"), "/lib/");
    EXPECT_EQ(request(port(), "GET", "/nothing.js").status, 404);
}

TEST_F(Serve, ModelsWithCorsAndByteRanges) {
    const std::string path = "/models/moebius-f16.safetensors";
    const std::string n = std::to_string(model_->size());
    Reply whole = request(port(), "GET", path);
    EXPECT_EQ(whole.status, 200);
    EXPECT_EQ(whole.body, *model_);
    EXPECT_EQ(whole.header("content-length"), n);
    EXPECT_EQ(whole.header("content-type"), "application/octet-stream");
    EXPECT_EQ(whole.header("access-control-allow-origin"), "*");
    EXPECT_EQ(whole.header("cross-origin-resource-policy"), "cross-origin");

    Reply head = request(port(), "HEAD", path);  // the app asks sizes before downloading
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-length"), n);
    EXPECT_EQ(head.body, "");

    Reply mid = request(port(), "GET", path, "Range: bytes=10-19\r\n");
    EXPECT_EQ(mid.status, 206);
    EXPECT_EQ(mid.header("content-range"), "bytes 10-19/" + n);
    EXPECT_EQ(mid.body, model_->substr(10, 10));
    Reply resume = request(port(), "GET", path, "Range: bytes=60000-\r\n");  // download.js's resume
    EXPECT_EQ(resume.status, 206);
    EXPECT_EQ(resume.header("content-range"), "bytes 60000-99999/" + n);
    EXPECT_EQ(resume.body, model_->substr(60000));
    Reply tail = request(port(), "GET", path, "Range: bytes=-5\r\n");
    EXPECT_EQ(tail.body, model_->substr(model_->size() - 5));
    Reply past = request(port(), "GET", path, "Range: bytes=99990-200000\r\n");  // last past the end: clamped
    EXPECT_EQ(past.status, 206);
    EXPECT_EQ(past.header("content-range"), "bytes 99990-99999/" + n);
    EXPECT_EQ(past.body, model_->substr(99990));
    Reply beyond = request(port(), "GET", path, "Range: bytes=" + n + "-\r\n");
    EXPECT_EQ(beyond.status, 416);
    EXPECT_EQ(beyond.header("content-range"), "bytes */" + n);
    EXPECT_EQ(beyond.body, "");

    Reply pre =
        request(port(), "OPTIONS", path, "Origin: https://example.org\r\nAccess-Control-Request-Headers: range\r\n");
    EXPECT_EQ(pre.status, 204);
    EXPECT_EQ(pre.header("access-control-allow-headers"), "Range");
    EXPECT_EQ(request(port(), "GET", "/models/PixelHacker/vae/config.json").body, "{}");
    EXPECT_EQ(request(port(), "GET", "/models").status, 301);
}

TEST_F(Serve, NoPathLeavesTheServedFolders) {
    for (const char* p : {"/../secret.txt", "/%2e%2e/secret.txt", "/lib/../../secret.txt", "/lib/..%2f..%2fsecret.txt",
                          "/models/../secret.txt", "/models/%2e%2e%2fsecret.txt", "/models/Moebius/../../secret.txt",
                          "/%00", "/index.html%00.png"}) {
        Reply r = request(port(), "GET", p);
        EXPECT_TRUE(r.status == 400 || r.status == 404) << p << ": " << r.status;
        EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << p;
    }
    // A dot segment that stays inside is fine.
    EXPECT_EQ(request(port(), "GET", "/lib/./mask.js").status, 200);
}

TEST_F(Serve, TakenPortAndMissingAppAreClearErrors) {
    Server second("--root " + (*dir_ / "dist").string() + " --port " + std::to_string(port()));
    EXPECT_EQ(second.stop(false), 3) << second.printed;
    EXPECT_NE(second.printed.find("cannot listen on 127.0.0.1:" + std::to_string(port())), std::string::npos)
        << second.printed;
    Server none("--root " + (*dir_ / "nowhere").string());
    EXPECT_EQ(none.stop(false), 2) << none.printed;
    EXPECT_NE(none.printed.find("index.html not found"), std::string::npos) << none.printed;
    Server bad_models("--root " + (*dir_ / "dist").string() + " --models " + (*dir_ / "secret.txt").string());
    EXPECT_EQ(bad_models.stop(false), 2) << bad_models.printed;
    EXPECT_NE(bad_models.printed.find("is not a folder"), std::string::npos) << bad_models.printed;
}

TEST_F(Serve, StopsCleanlyOnSigterm) {
    Server s("--root " + (*dir_ / "dist").string() + " --port 0");
    ASSERT_GT(s.port, 0) << s.printed;
    EXPECT_EQ(request(s.port, "GET", "/").status, 200);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(s.stop(), 0) << s.printed;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}
