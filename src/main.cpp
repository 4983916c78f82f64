// kargo-dsp: argument parsing and configuration only; the work is in the kargo library.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <optional>

#include "kargo/app/app.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/log.hpp"
#include "kargo/sandbox/sandbox.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"kargo-dsp: Kargo <-> Amazon DSP integration service"};
  cli.require_subcommand(1);
  auto* serve = cli.add_subcommand("serve", "HTTP API and background worker");
  auto* worker = cli.add_subcommand("worker", "background jobs only (/health/* on WORKER_PORT)");
  auto* migrate = cli.add_subcommand("migrate", "apply or list SQL migrations");
  std::string migrate_action = "up";
  migrate->add_option("action", migrate_action, "up | status")->check(CLI::IsMember({"up", "status"}));
  auto* create_user = cli.add_subcommand("create-user", "create a user; the password is read from stdin");
  std::string username, role;
  create_user->add_option("NAME", username, "username")->required();
  create_user->add_option("ROLE", role, "viewer | editor | admin")
      ->required()
      ->check(CLI::IsMember({"viewer", "editor", "admin"}));
  auto* sandbox = cli.add_subcommand("sandbox", "local emulators of Amazon DSP, Login with Amazon and Kargo");
  kargo::sandbox::SandboxOptions sandbox_options;
  std::optional<unsigned> token_ttl;
  sandbox->add_option("--host", sandbox_options.host, "address to listen on")
      ->capture_default_str()
      ->check(CLI::ValidIPV4);
  sandbox->add_option("--port", sandbox_options.port, "port (0: any free port, logged)")
      ->capture_default_str();
  sandbox
      ->add_option("--token-ttl", token_ttl,
                   "access token lifetime in seconds (default SANDBOX_TOKEN_TTL_SECONDS, else 3600)")
      ->check(CLI::Range(1u, 86400u));
  sandbox->add_option("--io-threads", sandbox_options.io_threads, "HTTP I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }

  if (*sandbox) {
    // The sandbox reads only LOG_LEVEL and SANDBOX_TOKEN_TTL_SECONDS: no database, Redis or SECRET_KEY.
    kargo::SandboxConfig sandbox_config;
    try {
      sandbox_config = kargo::load_sandbox_config(kargo::process_environment(".env"));
    } catch (const kargo::ConfigError& e) {
      std::cerr << "configuration error: " << e.what() << "\n";
      return 2;
    }
    sandbox_options.token_ttl = std::chrono::seconds(token_ttl.value_or(sandbox_config.token_ttl_seconds));
    kargo::log::init(sandbox_config.log_level);
    int rc = kargo::sandbox::run_sandbox(sandbox_options);
    kargo::log::shutdown();
    return rc;
  }

  kargo::Config config;
  try {
    config = kargo::load_config(kargo::process_environment(".env"));
  } catch (const kargo::ConfigError& e) {
    std::cerr << "configuration error: " << e.what() << "\n";
    return 2;
  }
  kargo::log::init(config.log_level);

  int rc = 0;
  if (*serve)
    rc = kargo::app::serve(config);
  else if (*worker)
    rc = kargo::app::worker(config);
  else if (*migrate)
    rc = kargo::app::migrate(config, migrate_action);
  else if (*create_user)
    rc = kargo::app::create_user(config, username, role, std::cin);
  kargo::log::shutdown();
  return rc;
}
