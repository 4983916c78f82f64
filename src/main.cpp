// kargo-dsp: argument parsing and configuration only; the work is in the kargo library.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "kargo/app/app.hpp"
#include "kargo/app/process_creative.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/log.hpp"
#include "kargo/sandbox/sandbox.hpp"

namespace {

namespace fs = std::filesystem;

// "a, b or c"
std::string spoken_list(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
  }
  return out;
}

// The one line of a configuration error. When the variable is set nowhere, it also says where
// kargo-dsp looked and how to hand it the settings ./scripts/run.sh keeps (a second shell next to
// run.sh has none of them), so nobody is left guessing.
std::string config_error_line(const kargo::ConfigError& e, const kargo::EnvLookup& env,
                              const std::vector<std::string>& files) {
  std::string line = std::string("configuration error: ") + e.what();
  if (env(e.variable())) return line;
  std::vector<std::string> places{"the environment"};
  std::error_code ec;
  for (const auto& f : files) places.push_back(fs::absolute(f, ec).lexically_normal().string());
  line += "; " + e.variable() + " is set in none of " + spoken_list(places) + ".";
  // A binary built in the repository (build/kargo-dsp) finds run.sh's file next to its build directory.
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path run_env = ec ? fs::path() : exe.parent_path().parent_path() / ".local" / "run.env";
  bool unread = !run_env.empty() && fs::exists(run_env, ec);
  for (const auto& f : files) {
    std::error_code same_ec;
    if (unread && fs::equivalent(f, run_env, same_ec)) unread = false;
  }
  if (unread) {
    line += " ./scripts/run.sh keeps its settings in " + run_env.string() + ": pass --env-file " +
            run_env.string() + " (or run kargo-dsp from " + run_env.parent_path().parent_path().string() +
            ").";
  } else {
    line +=
        " ./scripts/run.sh keeps its settings in .local/run.env of the repository: run kargo-dsp from "
        "the repository root, pass --env-file <repository>/.local/run.env, or export them first "
        "(set -a; . .local/run.env; set +a).";
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"kargo-dsp: Kargo <-> Amazon DSP integration service"};
  cli.require_subcommand(1);
  std::vector<std::string> env_files;
  cli.add_option("--env-file", env_files,
                 "settings file read after the environment, instead of .env and .local/run.env (the "
                 "settings ./scripts/run.sh generates) in the working directory; repeatable, the first "
                 "file that sets a variable wins")
      ->allow_extra_args(false)  // one file per --env-file: NAME ROLE may follow it
      ->check(CLI::ExistingFile);
  cli.fallthrough();  // --env-file may also follow the command
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
  auto* process = cli.add_subcommand("process-creative",
                                     "transform a creative snippet offline (no database or network needed)");
  kargo::app::ProcessCreativeOptions pc;
  process->add_option("FILE", pc.file, "snippet file, - for stdin")->required();
  process->add_option("--format", pc.format, "runway | instream_video | enhanced_preroll | audio")
      ->required();
  process->add_option("--phase", pc.phase, "phase_1 | phase_2")->required();
  process->add_option("--name", pc.name, "creative name (default: the file name)");
  process->add_option("--dimensions", pc.dimensions, "WxH");
  process->add_option("--duration", pc.duration, "seconds (video and audio)");
  process->add_option("--vast-version", pc.vast_version, "2.0 | 3.0 | 4.0 | 4.1 | 4.2");
  process->add_option("--device-type", pc.device_type, "desktop | mobile | tablet | ctv");
  process->add_option("--dsp-seat-id", pc.dsp_seat_id, "Amazon DSP seat id (phase_2)");
  process->add_option("--pub-id", pc.pub_id, "publisher id (phase_2)");
  process->add_flag("--branded-canvas", pc.branded_canvas, "add a companion of the creative's dimensions");
  process->add_flag("--no-macros", pc.no_macros, "keep Kargo macros instead of mapping them to Amazon's");
  process->add_flag("--no-click-tracking", pc.no_click_tracking, "do not add Amazon click tracking");
  process->add_flag("--json", pc.json,
                    "print {processed_code, creative_type, amazon_dsp_ready, processing_metadata}");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }
  if (env_files.empty()) env_files = kargo::kDefaultSettingsFiles;
  const kargo::EnvLookup settings = kargo::process_environment(env_files);

  if (*sandbox) {
    // The sandbox reads only LOG_LEVEL and SANDBOX_TOKEN_TTL_SECONDS: no database, Redis or SECRET_KEY.
    kargo::SandboxConfig sandbox_config;
    try {
      sandbox_config = kargo::load_sandbox_config(settings);
    } catch (const kargo::ConfigError& e) {
      std::cerr << config_error_line(e, settings, env_files) << "\n";
      return 2;
    }
    sandbox_options.token_ttl = std::chrono::seconds(token_ttl.value_or(sandbox_config.token_ttl_seconds));
    kargo::log::init(sandbox_config.log_level);
    int rc = kargo::sandbox::run_sandbox(sandbox_options);
    kargo::log::shutdown();
    return rc;
  }
  // Offline: no configuration beyond AMAZON_MACROS_FILE, so no SECRET_KEY or database needed.
  if (*process) return kargo::app::process_creative(pc, settings, std::cin, std::cout, std::cerr);

  kargo::Config config;
  try {
    config = kargo::load_config(settings);
  } catch (const kargo::ConfigError& e) {
    std::cerr << config_error_line(e, settings, env_files) << "\n";
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
