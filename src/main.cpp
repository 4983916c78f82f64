// kargo-dsp: argument parsing and configuration only; the work is in the kargo library.
#include <CLI/CLI.hpp>
#include <iostream>

#include "kargo/app/app.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/log.hpp"

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

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
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
