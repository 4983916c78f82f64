#pragma once
// Subcommands of the kargo-dsp binary (contract section 1). main() parses arguments and the
// configuration and calls one of these; each returns the process exit code.
#include <iosfwd>
#include <string>

namespace kargo {
struct Config;
}

namespace kargo::app {

int serve(const Config& config);                               // HTTP API + background worker
int worker(const Config& config);                              // background worker + /health/* on WORKER_PORT
int migrate(const Config& config, const std::string& action);  // "up" | "status"
int create_user(const Config& config, const std::string& username, const std::string& role, std::istream& in);

}  // namespace kargo::app
