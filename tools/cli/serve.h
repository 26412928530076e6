// `moebius serve`: the web app's static folder over HTTP, with the headers it needs, and optionally a
// local model folder so that the machines of a LAN share one download.
#pragma once
#include <string>

struct ServeOptions {
    std::string root = "web/dist";  // the assembled app (scripts/build-web.sh)
    std::string models;             // served under /models/ when set
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port
};

// Serves until SIGINT/SIGTERM; returns the process exit code (0 after a signal, 2 bad folder, 3 bind).
int run_serve(const ServeOptions& o);
