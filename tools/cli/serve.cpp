// `moebius serve`: a static file server for the web app (Debian's cpp-httplib 0.11 underneath), the
// native twin of scripts/serve.mjs:
//  - every response of the app carries COOP/COEP (cross-origin isolation: the CPU engine's pthreads
//    build needs SharedArrayBuffer) and correct MIME types (.wasm application/wasm: streaming compile);
//  - `--models DIR` serves DIR under /models/ with CORS, so that the app's model settings (Model… →
//    converted model URL, or Moebius / VAE base URLs in the Hugging Face layout) point at one copy on
//    the LAN — also from an app hosted elsewhere;
//  - single and multiple byte ranges (the app resumes dropped downloads with `Range: bytes=N-`), files
//    streamed from disk (a 1.2 GB model is never read into memory);
//  - URL paths with a `..` segment or a NUL byte are refused before touching the file system.
//    Symbolic links inside the served folders are followed (a Hugging Face cache snapshot is links).
#include "serve.h"

#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string> kTypes = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".wasm", "application/wasm"},
    {".wgsl", "text/plain; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/plain; charset=utf-8"},
};

std::string mime_type(const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    auto it = kTypes.find(e);
    return it == kTypes.end() ? "application/octet-stream" : it->second;  // .bin, .safetensors, .npy, ...
}

// The file that `rel` (a decoded URL path below a mount point) names in `dir`, or nothing when the
// path could leave `dir`: a `..` segment or a NUL byte is refused outright, so there is no path
// normalisation to get wrong.
std::optional<fs::path> resolve(const fs::path& dir, const std::string& rel) {
    if (rel.find('\0') != std::string::npos) return std::nullopt;
    fs::path p = dir;
    size_t i = 0;
    while (i <= rel.size()) {
        const size_t j = std::min(rel.find('/', i), rel.size());
        const std::string seg = rel.substr(i, j - i);
        if (seg == "..") return std::nullopt;
        if (!seg.empty() && seg != ".") p /= seg;
        i = j + 1;
    }
    return p;
}

std::string http_date(fs::file_time_type t) {
    const std::time_t s = std::chrono::system_clock::to_time_t(std::chrono::file_clock::to_sys(t));
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

void text(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body + "\n", "text/plain; charset=utf-8");
}

// httplib parsed the Range header into req.ranges ((first, last), -1 = absent) but 0.11 neither
// checks `first` against the size nor clamps `last` (RFC 9110 14.1.2: a last past the end means the
// end). Rewritten here as explicit in-file [first, last] pairs, which httplib then slices correctly.
// False when a range is unsatisfiable (416). req is the server's own mutable object, passed as const.
bool normalize_ranges(const httplib::Request& req, size_t size) {
    for (auto& r : const_cast<httplib::Ranges&>(req.ranges)) {
        ssize_t first = r.first, last = r.second;
        if (first < 0) {  // suffix: the last `last` bytes
            if (last <= 0) return false;
            first = std::max<ssize_t>(0, (ssize_t)size - last);
            last = (ssize_t)size - 1;
        } else if (last < 0 || last >= (ssize_t)size) {
            last = (ssize_t)size - 1;
        }
        if (size == 0 || first >= (ssize_t)size || first > last) return false;
        r = {first, last};
    }
    return true;
}

// GET/HEAD of a file: 200, 206 (ranges) or 416, streamed from disk.
void send_file(const httplib::Request& req, httplib::Response& res, const fs::path& file) {
    std::error_code ec;
    const size_t size = fs::file_size(file, ec);
    const auto mtime = fs::last_write_time(file, ec);
    if (ec) return text(res, 404, "not found");
    auto in = std::make_shared<std::ifstream>(file, std::ios::binary);
    if (!*in) return text(res, 403, "cannot read the file");
    const std::string type = mime_type(file);
    res.set_header("Accept-Ranges", "bytes");
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Last-Modified", http_date(mtime));
    if (!req.ranges.empty() && !normalize_ranges(req, size)) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(size));
        return;
    }
    res.status = req.ranges.empty() ? 200 : 206;
    if (size == 0) return res.set_content("", type);
    res.set_content_provider(size, type, [in](size_t offset, size_t length, httplib::DataSink& sink) {
        std::array<char, 1 << 16> buf;
        in->seekg((std::streamoff)offset);
        in->read(buf.data(), (std::streamsize)std::min(length, buf.size()));
        const std::streamsize n = in->gcount();
        return n > 0 && sink.write(buf.data(), (size_t)n);  // false (a short file, a gone client) ends it
    });
}

// Serves the folder `dir` for URL paths starting with `prefix` ("" or "/models").
httplib::Server::Handler folder_handler(fs::path dir, std::string prefix, bool cross_origin) {
    return [dir = std::move(dir), prefix = std::move(prefix), cross_origin](const httplib::Request& req,
                                                                            httplib::Response& res) {
        res.set_header("Cross-Origin-Opener-Policy", "same-origin");
        res.set_header("Cross-Origin-Embedder-Policy", "require-corp");
        res.set_header("X-Content-Type-Options", "nosniff");
        if (cross_origin) {  // models: usable by an app served from elsewhere (also a cross-origin-isolated one)
            res.set_header("Cross-Origin-Resource-Policy", "cross-origin");
            res.set_header("Access-Control-Allow-Origin", "*");
            res.set_header("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges");
        } else {
            res.set_header("Cross-Origin-Resource-Policy", "same-origin");
        }
        const std::string rel = req.path.substr(std::min(prefix.size(), req.path.size()));
        const std::optional<fs::path> p = resolve(dir, rel);
        if (!p) return text(res, 400, "bad path");
        std::error_code ec;
        if (fs::is_directory(*p, ec)) {
            if (!req.path.empty() && req.path.back() != '/') {
                res.status = 301;
                res.set_header("Location", req.path + "/");
                return;
            }
            if (!fs::is_regular_file(*p / "index.html", ec)) return text(res, 404, "not found");
            return send_file(req, res, *p / "index.html");
        }
        if (!fs::is_regular_file(*p, ec)) return text(res, 404, "not found");
        send_file(req, res, *p);
    };
}

int g_stop_pipe[2] = {-1, -1};
extern "C" void on_stop_signal(int) {
    const char c = 's';
    [[maybe_unused]] ssize_t n = write(g_stop_pipe[1], &c, 1);
}

std::string url_host(const std::string& host) {
    if (host == "0.0.0.0" || host == "::" || host.empty()) return "localhost";
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// What to enter in the app's Model dialog for the files found in the models folder.
void print_models(const fs::path& dir, const std::string& url) {
    std::printf("Models from %s at %smodels/\n", dir.c_str(), url.c_str());
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".safetensors")
            std::printf("  converted model file (Model... > Converted model URL): %smodels/%s\n", url.c_str(),
                        e.path().filename().c_str());
    if (fs::is_directory(dir / "Moebius", ec) && fs::is_regular_file(dir / "PixelHacker/vae/config.json", ec))
        std::printf(
            "  upstream files (Hugging Face layout): Moebius base URL %smodels/Moebius/, VAE base URL "
            "%smodels/PixelHacker/vae/\n",
            url.c_str(), url.c_str());
}

}  // namespace

int run_serve(const ServeOptions& o) {
    std::error_code ec;
    const fs::path root = fs::absolute(o.root, ec);
    if (!fs::is_regular_file(root / "index.html", ec)) {
        std::fprintf(stderr,
                     "moebius serve: %s/index.html not found: build the app first (scripts/build-web.sh) "
                     "or give its folder with --root\n",
                     o.root.c_str());
        return 2;
    }
    fs::path models;
    if (!o.models.empty()) {
        models = fs::absolute(o.models, ec);
        if (!fs::is_directory(models, ec)) {
            std::fprintf(stderr, "moebius serve: --models %s is not a folder\n", o.models.c_str());
            return 2;
        }
    }

    httplib::Server svr;
    // httplib's default sets SO_REUSEPORT, which lets a second server share a port in use (requests
    // then alternate between them): SO_REUSEADDR only, so a taken port is an error.
    svr.set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    if (!models.empty()) {
        svr.Options("/models/.*", [](const httplib::Request&, httplib::Response& res) {  // CORS preflight
            res.status = 204;
            res.set_header("Access-Control-Allow-Origin", "*");
            res.set_header("Access-Control-Allow-Methods", "GET, HEAD");
            res.set_header("Access-Control-Allow-Headers", "Range");
            res.set_header("Access-Control-Max-Age", "86400");
        });
        svr.Get("/models(/.*)?", folder_handler(models, "/models", true));
    }
    svr.Get(".*", folder_handler(root, "", false));

    const int port = o.port == 0 ? svr.bind_to_any_port(o.host) : (svr.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port < 0) {
        std::fprintf(stderr, "moebius serve: cannot listen on %s:%d (in use? try --port 0)\n", o.host.c_str(), o.port);
        return 3;
    }
    const std::string url = "http://" + url_host(o.host) + ":" + std::to_string(port) + "/";
    std::printf("Moebius web app: %s\n", url.c_str());
    if (o.host == "0.0.0.0" || o.host == "::")
        std::printf("  listening on every interface: other machines use this one's address instead of localhost\n");
    if (!models.empty()) print_models(models, url);
    std::printf("Serving %s with COOP/COEP; Ctrl+C stops.\n", root.c_str());
    std::fflush(stdout);

    // SIGINT/SIGTERM: the handler only writes to a pipe (async-signal-safe, whichever thread takes the
    // signal — OpenBLAS's threads exist before ours); a thread reading the pipe stops the server.
    if (pipe(g_stop_pipe) != 0) {
        std::perror("moebius serve: pipe");
        return 1;
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::atomic<bool> signalled{false}, returned{false};
    std::thread stopper([&] {
        char c = 0;
        while (read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
        }
        if (c != 's') return;  // woken by the main thread: the server ended on its own
        signalled = true;
        // A signal that comes before listening has started must still stop it.
        while (!svr.is_running() && !returned) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        svr.stop();
    });
    const bool ok = svr.listen_after_bind();
    returned = true;
    if (!signalled) {
        const char c = 'e';
        if (write(g_stop_pipe[1], &c, 1) != 1) std::perror("moebius serve: pipe");
    }
    stopper.join();
    return ok || signalled ? 0 : 3;
}
