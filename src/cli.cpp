// The only translation unit that includes CLI11 (it is slow to compile).
#include "mgr/cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

#include "mgr/commands.hpp"
#include "mgr/config.hpp"
#include "mgr/error.hpp"
#include "mgr/fleet_commands.hpp"
#include "mgr/interrupt.hpp"
#include "mgr/output.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

// -q errors only; default warnings; -v info (each step); -vv debug (config,
// environment, connections, lock, each migration, child commands).
// docs/cli.md "Log levels" describes each.
void setup_logging(int verbosity, bool color) {
  auto logger = spdlog::stderr_color_st("mgr", color ? spdlog::color_mode::automatic : spdlog::color_mode::never);
  logger->set_pattern("mgr: %^%l%$: %v");
  switch (verbosity) {
    case -1: logger->set_level(spdlog::level::err); break;
    case 0: logger->set_level(spdlog::level::warn); break;
    case 1: logger->set_level(spdlog::level::info); break;
    default: logger->set_level(spdlog::level::debug); break;
  }
  spdlog::set_default_logger(logger);
}

std::chrono::milliseconds duration_flag(const std::string& text, const char* flag) {
  auto d = parse_duration(text);
  if (!d) throw UsageError(std::string(flag) + " " + duration_error(text));
  return *d;
}

// Every option struct the command line fills, and the CLI11 objects that say
// which command was given.
struct Parsed {
  GlobalOptions global;
  std::string config_path;
  bool quiet = false, no_color = false;
  int verbose = 0;
  InitOptions init;
  NewOptions new_;
  ApplyOptions apply;
  std::string apply_lock_wait;
  StatusOptions status;
  ValidateOptions validate;
  LintOptions lint;
  std::string lint_format = "text";
  BackupOptions backup;
  BackupsOptions backups;
  RestoreOptions restore;
  BaselineOptions baseline;
  RepairOptions repair;
  RollbackOptions rollback;
  ResetOptions reset;
  LogOptions log;
  DriftOptions drift;
  FleetOptions fleet;       // --shard, --parallel, --on-error, --database, --databases
  std::string on_error;
  CompletionOptions completion;
  bool env_names = false;
  std::vector<std::string> help_topic;
  bool help_man = false;
  std::map<std::string, CLI::App*> cmd;  // by name; "env list" for the nested one
};

// Fixed values of options, for completion and the manual page.
const std::map<std::string, std::vector<std::string>>& option_choices() {
  static const std::map<std::string, std::vector<std::string>> choices{
      {"--format", {"text", "json", "sarif"}}, {"shell", {"bash", "zsh"}}, {"--on-error", {"stop", "continue"}}};
  return choices;
}

void define_global_flags(CLI::App& app, Parsed& p) {
  app.add_option("--config", p.config_path, "environments.yaml to use (default: $MGR_CONFIG or config/environments.yaml)")
      ->option_text("PATH");
  app.add_flag("--json", p.global.json, "machine-readable output on stdout (errors too)");
  app.add_flag("-v,--verbose", p.verbose, "more log output on stderr: -v steps, -vv debug details");
  app.add_flag("-q,--quiet", p.quiet, "only errors on stderr");
  app.add_flag("--no-color", p.no_color, "no colours (also: NO_COLOR set, or output not a terminal)");
}

// --database NAME: one database of a fleet environment (docs/fleets.md).
void add_database_option(CLI::App& command, Parsed& p) {
  command.add_option("--database", p.fleet.database, "a fleet: the database to work on (mgr status ENV --databases)")
      ->option_text("NAME");
}

void define_setup_commands(CLI::App& app, Parsed& p) {
  auto* init = p.cmd["init"] = app.add_subcommand("init", "start a project: config/environments.yaml, migrations/, schema-backups/");
  init->add_option("dir", p.init.dir, "the project folder (default: the current one)");

  auto* new_ = p.cmd["new"] = app.add_subcommand("new", "create an up and a down migration file");
  new_->add_option("name", p.new_.name, "lower-case words joined by _, e.g. add_user_email")->required();

  p.cmd["config"] = app.add_subcommand("config", "show the environments in promotion order (checks the config)");
  auto* env = p.cmd["env"] = app.add_subcommand("env", "environments");
  auto* env_list = p.cmd["env list"] = env->add_subcommand("list", "same as `mgr config`");
  env_list->add_flag("--names", p.env_names, "only the names, one per line (scripts, shell completion)");
  env->require_subcommand(1);

  auto* completion = p.cmd["completion"] =
      app.add_subcommand("completion", "print a shell completion script (bash or zsh)");
  completion->add_option("shell", p.completion.shell, "bash | zsh")
      ->required()
      ->check(CLI::IsMember(option_choices().at("shell")));

  auto* help = p.cmd["help"] = app.add_subcommand("help", "show the help of mgr or of one command");
  help->add_option("command", p.help_topic, "a command, e.g. apply (or: env list)");
  help->add_flag("--man", p.help_man, "print the manual page (roff, as installed as mgr.1)");
}

void define_migration_commands(CLI::App& app, Parsed& p) {
  auto* apply = p.cmd["apply"] = app.add_subcommand("apply", "apply pending migrations to an environment");
  apply->add_option("env", p.apply.env, "environment name")->required();
  apply->add_option("--to", p.apply.to, "apply up to and including this migration id")->option_text("ID");
  apply->add_flag("--dry-run", p.apply.dry_run, "check and print the plan; change nothing");
  apply->add_flag("--sql", p.apply.sql, "with --dry-run: print the exact SQL each migration would send")
      ->needs("--dry-run");
  apply->add_flag("--yes", p.apply.yes, "confirm without a prompt (CI)");
  apply->add_flag("--allow-out-of-order", p.apply.allow_out_of_order,
                  "apply pending migrations older than the newest applied one");
  apply->add_flag("--allow-drift", p.apply.allow_drift,
                  "with drift: block, apply even though the schema changed outside mgr (the diff is printed)");
  apply->add_option("--lock-wait", p.apply_lock_wait, "how long to wait for another mgr's lock (e.g. 30s)")
      ->option_text("DURATION");
  apply->add_option("--shard", p.fleet.shard, "a fleet: only slice K of N (by a hash of each database's identity)")
      ->option_text("K/N");
  apply->add_option("--parallel", p.fleet.parallel, "a fleet: databases at once (default: the environment's parallel, 4)")
      ->check(CLI::Range(1, k_max_parallel))
      ->option_text("N");
  apply->add_option("--on-error", p.on_error, "a fleet: stop (start no new database after a failure) | continue")
      ->check(CLI::IsMember(option_choices().at("--on-error")))
      ->option_text("MODE");

  auto* reset = p.cmd["reset"] =
      app.add_subcommand("reset", "drop everything in an environment's database and apply all migrations again");
  reset->add_option("env", p.reset.env, "environment name")->required();
  reset->add_flag("--yes", p.reset.yes, "confirm without a prompt (CI)");
  reset->add_flag("--force", p.reset.force, "with --yes: also an environment with confirm: true or one promoted from");
  add_database_option(*reset, p);

  auto* status = p.cmd["status"] = app.add_subcommand("status", "compare environments side by side");
  status->add_option("env", p.status.envs, "environments to show (default: all)");
  status->add_flag("--databases", p.status.databases, "a fleet: one line per database instead of the counts");

  auto* validate = p.cmd["validate"] =
      app.add_subcommand("validate", "the release gate: report every problem; exit 3 on an error");
  validate->add_option("--env", p.validate.envs, "environments to check (default: all)")->option_text("ENV");
  validate->add_flag("--offline", p.validate.offline, "check the files only; no database");

  auto* lint = p.cmd["lint"] = app.add_subcommand("lint", "check migration SQL for destructive or lock-heavy statements");
  lint->add_option("paths", p.lint.paths, "files to lint (default: every migration)");
  lint->add_option("--format", p.lint_format, "text | json | sarif")
      ->check(CLI::IsMember(option_choices().at("--format")))
      ->option_text("FORMAT");
  lint->add_flag("--explain", p.lint.explain, "show the safer way for each finding");

  auto* baseline = p.cmd["baseline"] = app.add_subcommand("baseline", "record migrations as applied without running them");
  baseline->add_option("env", p.baseline.env, "environment name")->required();
  baseline->add_option("--to", p.baseline.to, "last migration id to record")->required()->option_text("ID");
  baseline->add_flag("--yes", p.baseline.yes, "confirm without a prompt");
  add_database_option(*baseline, p);

  auto* repair = p.cmd["repair"] = app.add_subcommand("repair", "remove failed rows and re-record edited checksums");
  repair->add_option("env", p.repair.env, "environment name")->required();
  repair->add_flag("--yes", p.repair.yes, "confirm without a prompt");
  add_database_option(*repair, p);

  auto* rollback = p.cmd["rollback"] = app.add_subcommand("rollback", "run down files of the newest applied migrations");
  rollback->add_option("env", p.rollback.env, "environment name")->required();
  auto* steps = rollback->add_option("--steps", p.rollback.steps, "how many migrations to undo")
                    ->check(CLI::PositiveNumber)
                    ->option_text("N");
  auto* to = rollback->add_option("--to", p.rollback.to, "undo everything after this migration id")->option_text("ID");
  steps->excludes(to);
  to->excludes(steps);
  rollback->add_flag("--yes", p.rollback.yes, "confirm without a prompt");
  rollback->add_flag("--dry-run", p.rollback.dry_run, "check and print the plan; change nothing");
  add_database_option(*rollback, p);

  auto* log = p.cmd["log"] = app.add_subcommand("log", "show the audit log of an environment, newest first");
  log->add_option("env", p.log.env, "environment name")->required();
  log->add_option("--limit", p.log.limit, "number of entries")->check(CLI::PositiveNumber)->option_text("N");
  add_database_option(*log, p);

  auto* drift = p.cmd["drift"] =
      app.add_subcommand("drift", "compare a schema with mgr's last snapshot, another environment, or the migrations");
  drift->add_option("env", p.drift.envs, "environment, or two environments to compare")->required()->expected(1, 2);
  drift->add_flag("--accept", p.drift.accept, "record the current schema as the snapshot (audit log)");
  drift->add_option("--reason", p.drift.reason, "why the change is accepted (required when it drifted)")
      ->option_text("TEXT");
  drift->add_flag("--against-migrations", p.drift.against_migrations,
                  "compare with the migrations applied to a scratch database (scratch_url)");
  add_database_option(*drift, p);
}

void define_backup_commands(CLI::App& app, Parsed& p) {
  auto* backup = p.cmd["backup"] = app.add_subcommand("backup", "take a verified pg_dump backup now");
  backup->add_option("env", p.backup.env, "environment name")->required();
  add_database_option(*backup, p);

  auto* backups = p.cmd["backups"] = app.add_subcommand("backups", "list backups and check them against their manifests");
  backups->add_option("env", p.backups.env, "only this environment");
  add_database_option(*backups, p);

  auto* restore = p.cmd["restore"] = app.add_subcommand("restore", "restore an environment from a backup in schema-backups/");
  restore->add_option("env", p.restore.env, "environment name")->required();
  restore->add_option("backup-file", p.restore.file, "the .dump or .sql file")->required();
  restore->add_flag("--yes", p.restore.yes, "confirm without a prompt");
  restore->add_flag("--no-safety-backup", p.restore.no_safety_backup, "do not back up the current state first");
  restore->add_flag("--from-other-env", p.restore.from_other_env,
                    "allow a backup taken from another environment (e.g. prod into test)");
  add_database_option(*restore, p);
}

CliFlag flag_of(const CLI::Option& opt) {
  CliFlag f;
  for (const auto& s : opt.get_snames()) f.spellings.push_back("-" + s);
  for (const auto& l : opt.get_lnames()) f.spellings.push_back("--" + l);
  if (opt.get_expected_min() > 0) {
    f.value = opt.get_option_text().empty() ? "VALUE" : opt.get_option_text();
  }
  f.description = opt.get_description();
  if (auto it = option_choices().find(f.spellings.empty() ? "" : f.spellings.back()); it != option_choices().end()) {
    f.choices = it->second;
  }
  return f;
}

CliCommand command_of(const CLI::App& sub) {
  CliCommand c;
  c.name = sub.get_name();
  c.description = sub.get_description();
  for (const auto* opt : sub.get_options()) {
    if (opt->nonpositional()) {
      c.flags.push_back(flag_of(*opt));
    } else {
      c.positionals.push_back(opt->get_name());
      c.last_positional_repeats = opt->get_expected_max() > 1;
    }
  }
  for (const auto* s : sub.get_subcommands([](const CLI::App*) { return true; })) c.subcommands.push_back(command_of(*s));
  return c;
}

CliModel model_of(const CLI::App& app) {
  CliModel m;
  m.summary = app.get_description();
  for (const auto* opt : app.get_options()) m.global_flags.push_back(flag_of(*opt));
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; })) m.commands.push_back(command_of(*s));
  return m;
}

// A command's --help also lists the flags every command takes.
std::string global_flags_footer(const CliModel& model) {
  std::string out = "Global options (before or after the command):\n";
  for (const auto& f : model.global_flags) {
    std::string names = join(f.spellings, ",");
    if (!f.value.empty()) names += " " + f.value;
    if (names == "--help" || names == "-h,--help" || names == "--version") continue;
    out += "  " + names + std::string(names.size() < 28 ? 28 - names.size() : 1, ' ') + f.description + "\n";
  }
  return out + "Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 refused, 130/143 interrupted (docs/cli.md).";
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
  return names;
}

UsageError unknown_command(const std::string& word, const std::vector<std::string>& known) {
  std::string msg = "unknown command '" + word + "'";
  if (auto guess = nearest(word, known); !guess.empty()) {
    msg += "; did you mean '" + guess + "'?";
  } else {
    msg += "; commands: " + join(known, ", ");
  }
  return UsageError(msg);
}

// The first word that is not an option (nor --config's value): the command.
std::string first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (a == "--config") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] != '-') return a;
  }
  return "";
}

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--json") == 0 || std::strcmp(argv[i], "--format=json") == 0) return true;
  }
  return false;
}

int report_error(const Error& e, bool json) {
  std::cerr << "mgr: " << (e.code() == ExitCode::refused ? "refused" : "error") << ": " << e.what() << "\n";
  // A script that asked for JSON gets a JSON document on stdout, unless the command already wrote its own.
  if (json && !json_printed()) print_json(error_json(e));
  return static_cast<int>(e.code());
}

// mgr help [command...]: the help of the app or of one (nested) command.
int run_help(const CLI::App& app, const Parsed& p, const CliModel& model) {
  if (p.help_man) {
    std::cout << render_man_page(model, version_text());
    return 0;
  }
  const CLI::App* target = &app;
  std::string prev;
  for (const auto& word : p.help_topic) {
    const CLI::App* next = nullptr;
    for (const auto* s : target->get_subcommands([](const CLI::App*) { return true; })) {
      if (s->get_name() == word) next = s;
    }
    if (next == nullptr) throw unknown_command(word, command_names(*target));
    prev = prev.empty() ? app.get_name() : prev + " " + target->get_name();
    target = next;
  }
  std::cout << target->help(prev);
  return 0;
}

int dispatch(const CLI::App& app, Parsed& p, const CliModel& model) {
  auto given = [&](const char* name) { return p.cmd.at(name)->parsed(); };
  if (given("rollback") && !p.rollback.steps && !p.rollback.to) throw UsageError("rollback needs --steps N or --to ID");
  if (p.lint_format == "json") p.lint.format = LintFormat::json;
  if (p.lint_format == "sarif") p.lint.format = LintFormat::sarif;
  if (p.global.json && p.lint.format == LintFormat::text) p.lint.format = LintFormat::json;
  if (!p.apply_lock_wait.empty()) p.apply.lock_wait = duration_flag(p.apply_lock_wait, "--lock-wait");
  if (!p.on_error.empty()) p.fleet.on_error = p.on_error == "continue" ? OnError::continue_on : OnError::stop;

  if (given("help")) return run_help(app, p, model);
  if (!given("init") && !given("completion")) {
    spdlog::debug("config file: {}", resolve_config_path(p.global.config_path, process_env_lookup()).string());
  }
  for (const auto* env : {&p.apply.env, &p.backup.env, &p.restore.env, &p.baseline.env, &p.repair.env,
                          &p.rollback.env, &p.log.env}) {
    if (!env->empty()) spdlog::debug("environment: {}", *env);
  }
  if (given("init")) return run_init(p.global, p.init);
  if (given("completion")) return run_completion(p.global, p.completion, model);
  if (given("new")) return run_new(p.global, p.new_);
  if (given("env list") && p.env_names) return run_env_names(p.global);
  if (given("config") || given("env list")) return run_config(p.global);
  if (given("apply")) {
    if (auto fleet = run_fleet_apply(p.global, p.apply, p.fleet)) return *fleet;
    return run_apply(p.global, p.apply);
  }
  // The commands on one database: --database picks it in a fleet.
  for (const char* name : {"backup", "backups", "restore", "baseline", "repair", "rollback", "reset", "log", "drift"}) {
    if (!given(name)) continue;
    const std::string env = name == std::string("backup")     ? p.backup.env
                            : name == std::string("backups")  ? p.backups.env.value_or("")
                            : name == std::string("restore")  ? p.restore.env
                            : name == std::string("baseline") ? p.baseline.env
                            : name == std::string("repair")   ? p.repair.env
                            : name == std::string("rollback") ? p.rollback.env
                            : name == std::string("reset")    ? p.reset.env
                            : name == std::string("log")      ? p.log.env
                                                              : (p.drift.envs.empty() ? "" : p.drift.envs.front());
    select_fleet_database(p.global, env, p.fleet, name);
  }
  if (given("status")) return run_status(p.global, p.status);
  if (given("validate")) return run_validate(p.global, p.validate);
  if (given("lint")) return run_lint(p.global, p.lint);
  if (given("backup")) return run_backup(p.global, p.backup);
  if (given("backups")) return run_backups(p.global, p.backups);
  if (given("restore")) return run_restore(p.global, p.restore);
  if (given("baseline")) return run_baseline(p.global, p.baseline);
  if (given("repair")) return run_repair(p.global, p.repair);
  if (given("rollback")) return run_rollback(p.global, p.rollback);
  if (given("reset")) return run_reset(p.global, p.reset);
  if (given("log")) return run_log(p.global, p.log);
  if (given("drift")) return run_drift(p.global, p.drift);
  throw UsageError("no command given; see mgr help");
}

// CLI11 could not parse: say what is wrong the way a person needs it.
int parse_failure(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
  bool json = wants_json(argc, argv);
  if (app.get_subcommands().empty()) {
    auto word = first_word(argc, argv);
    auto known = command_names(app);
    if (!word.empty() && std::find(known.begin(), known.end(), word) == known.end()) {
      return report_error(unknown_command(word, known), json);
    }
    if (word.empty() && e.get_name() == "RequiredError") {
      if (!json) std::cerr << app.help();
      return report_error(UsageError("a command is required (mgr help <command> for one)"), json);
    }
  }
  // A command that itself has commands (env list): the same help, one level down.
  if (auto word = first_word(argc, argv); !word.empty()) {
    const CLI::App* outer = app.get_subcommand(word);
    auto inner = command_names(*outer);
    if (!inner.empty()) {
      std::vector<std::string> words;  // the words after the command
      bool after = false;
      for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (after && !a.empty() && a[0] != '-') words.push_back(a);
        if (a == word) after = true;
      }
      if (words.empty()) return report_error(UsageError("mgr " + word + " needs a command: " + join(inner, ", ")), json);
      if (std::find(inner.begin(), inner.end(), words[0]) == inner.end()) {
        return report_error(unknown_command(words[0], inner), json);
      }
    }
  }
  return report_error(UsageError(e.what()), json);
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"mgr: move PostgreSQL schema migrations safely through dev -> test -> prod", "mgr"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the command: mgr status --json

  Parsed p;
  define_global_flags(app, p);
  define_setup_commands(app, p);
  define_migration_commands(app, p);
  define_backup_commands(app, p);
  CliModel model = model_of(app);
  std::string footer = global_flags_footer(model);
  for (auto& [name, sub] : p.cmd) sub->footer(footer);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failure(app, e, argc, argv);
  }

  if (!p.config_path.empty()) p.global.config_path = p.config_path;
  p.global.verbosity = p.quiet ? -1 : p.verbose;
  // NO_COLOR (no-color.org): any non-empty value turns colour off.
  const char* no_color_env = std::getenv("NO_COLOR");
  bool color_allowed = !p.no_color && (no_color_env == nullptr || *no_color_env == '\0');
  p.global.color = color_allowed && ::isatty(STDOUT_FILENO);
  install_interrupt_handler();
  setup_logging(p.global.verbosity, color_allowed && ::isatty(STDERR_FILENO));
  spdlog::debug("{}", version_text());

  try {
    return dispatch(app, p, model);
  } catch (const Error& e) {
    return report_error(e, p.global.json || p.lint.format == LintFormat::json);
  } catch (const std::exception& e) {
    // Should not happen: modules translate their errors. Still exit 1, not abort.
    return report_error(Failure(e.what()), p.global.json);
  }
}

}  // namespace mgr
