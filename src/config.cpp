#include "mgr/config.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>

#include "mgr/error.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_default_config_path = "config/environments.yaml";
constexpr int k_min_lint_pg_version = 10;
constexpr std::size_t k_max_identifier_bytes = 63;  // NAMEDATALEN - 1

const std::vector<std::string> k_top_level_keys = {"migrations_dir",  "backups_dir", "history_table",
                                                   "pg_bin_dir",      "lint_pg_version", "environments",
                                                   "scratch_url"};
const std::vector<std::string> k_environment_keys = {
    "url",         "promote_from", "backup",        "lint",        "confirm",        "lock_timeout",
    "statement_timeout", "lock_wait", "backup_format", "backup_keep", "backup_timeout", "pg_bin_dir",
    "drift",       "scratch_url",  "databases",     "databases_query", "parallel",    "on_error",    "durable_each"};
const std::vector<std::string> k_databases_query_keys = {"url", "sql"};

// " (did you mean 'x'?)" when a candidate is close enough to be a plausible typo.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  auto best = nearest(word, candidates);
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool is_environment_name(const std::string& s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string sql_quote_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// An unset ${VAR}: a ConfigError like any other at the top level; inside an
// environment it is caught and kept on the environment for later (EnvironmentUrl).
class UnsetVariable : public ConfigError {
 public:
  UnsetVariable(const std::string& message, std::string variable)
      : ConfigError(message), m_variable(std::move(variable)) {}
  const std::string& variable() const { return m_variable; }

 private:
  std::string m_variable;
};

// Builds `path:line:col: message` errors from yaml-cpp's 0-based marks.
class Reporter {
 public:
  explicit Reporter(fs::path path) : m_path(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& message) const {
    throw ConfigError(position(mark) + message);
  }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const { fail(node.Mark(), message); }

  std::string position(const YAML::Mark& mark) const {
    // Null nodes (an empty document) carry no position: point at the start.
    const int line = mark.line >= 0 ? mark.line + 1 : 1;
    const int col = mark.column >= 0 ? mark.column + 1 : 1;
    return m_path.string() + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
  }

 private:
  fs::path m_path;
};

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "'" + node.Scalar() + "'";
  }
}

// Reads one config mapping: typed accessors that report at the value's position.
class Reader {
 public:
  Reader(const Reporter& reporter, const EnvLookup& env, std::string context)
      : m_reporter(reporter), m_env(env), m_context(std::move(context)) {}

  // The raw scalar, no interpolation (enums, bools, integers, names).
  std::string scalar(const std::string& key, const YAML::Node& value, const std::string& expected) const {
    if (!value.IsScalar()) m_reporter.fail(value, where(key) + " must be " + expected + ", got " + describe(value));
    return value.Scalar();
  }

  // A string value with ${VAR} / ${VAR:-default} / $$ interpolation.
  std::string string(const std::string& key, const YAML::Node& value) const {
    return interpolate(key, value, scalar(key, value, "a string"));
  }

  bool boolean(const std::string& key, const YAML::Node& value) const {
    const auto text = scalar(key, value, "true or false");
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    m_reporter.fail(value, where(key) + " must be true or false, got '" + text + "'");
  }

  int integer(const std::string& key, const YAML::Node& value, int minimum, const std::string& expected) const {
    const auto text = scalar(key, value, expected);
    long long number = 0;
    bool ok = !text.empty() && text.size() <= 9;
    std::size_t i = 0;
    bool negative = false;
    if (ok && (text[0] == '-' || text[0] == '+')) {
      negative = text[0] == '-';
      i = 1;
      ok = text.size() > 1;
    }
    for (; ok && i < text.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) ok = false;
      else number = number * 10 + (text[i] - '0');
    }
    if (negative) number = -number;
    if (!ok || number < minimum) m_reporter.fail(value, where(key) + " must be " + expected + ", got '" + text + "'");
    return static_cast<int>(number);
  }

  template <typename Enum>
  Enum choice(const std::string& key, const YAML::Node& value,
              const std::vector<std::pair<std::string, Enum>>& allowed) const {
    std::vector<std::string> names;
    for (const auto& [name, e] : allowed) names.push_back(name);
    const auto expected = "one of " + join(names, ", ");
    const auto text = scalar(key, value, expected);
    for (const auto& [name, e] : allowed) {
      if (text == name) return e;
    }
    m_reporter.fail(value, where(key) + " must be " + expected + ", got '" + text + "'");
  }

  std::chrono::milliseconds duration(const std::string& key, const YAML::Node& value) const {
    const auto text = string(key, value);
    const auto parsed = parse_duration(text);
    if (!parsed) m_reporter.fail(value, where(key) + " " + duration_error(text));
    return *parsed;
  }

  fs::path path(const std::string& key, const YAML::Node& value, const fs::path& base) const {
    const auto text = string(key, value);
    if (text.empty()) m_reporter.fail(value, where(key) + " must not be empty");
    const fs::path p{text};
    return (p.is_absolute() ? p : base / p).lexically_normal();
  }

  // The scalar with every ${...} left out ($$ still a $): what the file itself
  // says, without anything that comes from the environment.
  static std::string literal_part(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$') {
        out.push_back('$');
        ++i;
      } else if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
        const auto close = text.find('}', i + 2);
        if (close == std::string::npos) break;
        i = close;
      } else {
        out.push_back(text[i]);
      }
    }
    return out;
  }

  std::string where(const std::string& key) const {
    return m_context.empty() ? "'" + key + "'" : "'" + key + "' in " + m_context;
  }

 private:
  std::string interpolate(const std::string& key, const YAML::Node& value, const std::string& text) const {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$') {
        out.push_back(text[i]);
        continue;
      }
      if (i + 1 < text.size() && text[i + 1] == '$') {  // $$ is a literal $
        out.push_back('$');
        ++i;
        continue;
      }
      if (i + 1 >= text.size() || text[i + 1] != '{') {  // a lone $ stays, as in the shell
        out.push_back('$');
        continue;
      }
      const auto close = text.find('}', i + 2);
      if (close == std::string::npos) {
        m_reporter.fail(value, where(key) + ": unterminated '${' (write $$ for a literal $)");
      }
      const auto body = text.substr(i + 2, close - i - 2);
      const auto sep = body.find(":-");
      const auto name = body.substr(0, sep);
      if (!is_identifier(name)) {
        m_reporter.fail(value, where(key) + ": invalid variable reference '${" + body +
                                   "}' (expected ${NAME} or ${NAME:-default}; write $$ for a literal $)");
      }
      const auto found = m_env ? m_env(name) : std::nullopt;
      if (sep != std::string::npos) {
        // Like the shell's :- the default also covers a set-but-empty variable.
        out += (found && !found->empty()) ? *found : body.substr(sep + 2);
      } else if (found) {
        out += *found;
      } else {
        throw UnsetVariable(m_reporter.position(value.Mark()) + "environment variable " + name +
                                " is not set (used by " + where(key) + "; set it or write ${" + name + ":-default})",
                            name);
      }
      i = close;
    }
    return out;
  }

  const Reporter& m_reporter;
  const EnvLookup& m_env;
  std::string m_context;
};

// Mapping entries in document order; rejects duplicates and unknown keys.
std::vector<std::pair<YAML::Node, YAML::Node>> entries(const Reporter& reporter, const YAML::Node& map,
                                                       const std::vector<std::string>& valid,
                                                       const std::string& context) {
  std::vector<std::pair<YAML::Node, YAML::Node>> out;
  std::map<std::string, int> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) reporter.fail(key, "keys must be plain names, got " + describe(key));
    const auto& name = key.Scalar();
    if (!valid.empty() && std::find(valid.begin(), valid.end(), name) == valid.end()) {
      const auto hint = suggestion(name, valid);
      reporter.fail(key, "unknown key '" + name + "' " + context +
                             (hint.empty() ? " (valid keys: " + join(valid, ", ") + ")" : hint));
    }
    if (const auto prior = seen.find(name); prior != seen.end()) {
      reporter.fail(key, "duplicate key '" + name + "' " + context + " (first given on line " +
                             std::to_string(prior->second) + ")");
    }
    seen.emplace(name, key.Mark().line + 1);
    out.emplace_back(key, it->second);
  }
  return out;
}

QualifiedName parse_history_table(const Reporter& reporter, const YAML::Node& node, const std::string& text) {
  const auto dot = text.find('.');
  QualifiedName name;
  if (dot == std::string::npos) {
    name.table = text;
  } else {
    name.schema = text.substr(0, dot);
    name.table = text.substr(dot + 1);
  }
  if ((dot != std::string::npos && !is_identifier(name.schema)) || !is_identifier(name.table)) {
    reporter.fail(node, "'history_table' must be name or schema.name with identifiers [A-Za-z_][A-Za-z0-9_]*, got '" +
                            text + "'");
  }
  // PostgreSQL truncates identifiers to 63 bytes, so a long name would make
  // `<name>_log` collide with (or misname) a table mgr also creates.
  const std::size_t max_table = k_max_identifier_bytes - std::string_view(k_history_longest_suffix).size();
  if (name.table.size() > max_table) {
    reporter.fail(node, "'history_table' table name is " + std::to_string(name.table.size()) +
                            " characters; at most " + std::to_string(max_table) + " (PostgreSQL's limit of " +
                            std::to_string(k_max_identifier_bytes) + " minus mgr's suffix '" +
                            k_history_longest_suffix + "' for its companion table)");
  }
  if (name.schema.size() > k_max_identifier_bytes) {
    reporter.fail(node, "'history_table' schema name is " + std::to_string(name.schema.size()) +
                            " characters; at most " + std::to_string(k_max_identifier_bytes) +
                            " (PostgreSQL's identifier limit)");
  }
  return name;
}

// A connection string value (url, scratch_url), reported at its position when libpq rejects it.
DbUrl parse_url_value(const Reporter& reporter, const Reader& read, const std::string& key, const YAML::Node& value) {
  try {
    return DbUrl::parse(read.string(key, value));
  } catch (const ConfigError& error) {
    reporter.fail(value, read.where(key) + ": " + error.what());
  }
}

struct EnvironmentSource {
  YAML::Node key;
  YAML::Node promote_from;  // the value node, for positions
};

// Whether the URL text, without its ${...} parts, still carries a password:
// then the password is in the file itself.
bool url_has_literal_password(const std::string& literal) {
  try {
    const auto url = DbUrl::parse(literal);
    return url.password() && !url.password()->empty();
  } catch (const ConfigError&) {
    return false;  // nothing parseable is left without the variables
  }
}

// One database of `databases:` (a URL or key=value string); an unset ${VAR}
// fails only that database, when it is used.
FleetEntry parse_fleet_entry(const Reporter& reporter, const Reader& read, const YAML::Node& item, bool& literal_password) {
  FleetEntry entry;
  const auto position = reporter.position(item.Mark());
  entry.text = position.substr(0, position.size() - 2);  // without the trailing ": "
  try {
    const auto text = read.string("databases", item);
    try {
      entry.url = DbUrl::parse(text);
    } catch (const ConfigError& error) {
      reporter.fail(item, read.where("databases") + ": " + error.what());
    }
  } catch (const UnsetVariable& error) {
    entry.url = EnvironmentUrl::unresolved(error.what(), error.variable());
  }
  literal_password = literal_password || url_has_literal_password(Reader::literal_part(item.Scalar()));
  return entry;
}

void parse_databases(const Reporter& reporter, const Reader& read, const YAML::Node& value, FleetSpec& fleet,
                     bool& literal_password) {
  if (!value.IsSequence() || value.size() == 0) {
    reporter.fail(value, read.where("databases") + " must be a non-empty list of database URLs, got " +
                             (value.IsSequence() ? std::string("an empty list") : describe(value)));
  }
  for (const auto& item : value) {
    if (!item.IsScalar()) {
      reporter.fail(item, read.where("databases") + ": each entry must be a URL or key=value string, got " +
                              describe(item));
    }
    fleet.databases.push_back(parse_fleet_entry(reporter, read, item, literal_password));
  }
}

void parse_databases_query(const Reporter& reporter, const Reader& read, const YAML::Node& value,
                           const std::string& env_name, FleetSpec& fleet) {
  if (!value.IsMap()) {
    reporter.fail(value, read.where("databases_query") + " must be a mapping with 'url' and 'sql', got " +
                             describe(value));
  }
  FleetQuery query;
  bool has_url = false, has_sql = false;
  const auto context = "in 'databases_query' of environment '" + env_name + "'";
  for (const auto& [k, v] : entries(reporter, value, k_databases_query_keys, context)) {
    if (k.Scalar() == "url") {
      has_url = true;
      try {
        query.url = parse_url_value(reporter, read, "databases_query.url", v);
      } catch (const UnsetVariable& error) {
        query.url = EnvironmentUrl::unresolved(error.what(), error.variable());
      }
    } else {
      has_sql = true;
      query.sql = read.string("databases_query.sql", v);
      if (query.sql.find_first_not_of(" \t\r\n") == std::string::npos) {
        reporter.fail(v, read.where("databases_query.sql") + " must not be empty");
      }
      const auto position = reporter.position(v.Mark());
      query.where = position.substr(0, position.size() - 2);
    }
  }
  if (!has_url) reporter.fail(value, "'databases_query' " + context.substr(context.find("of ")) + " has no 'url' (the catalog database)");
  if (!has_sql) reporter.fail(value, "'databases_query' " + context.substr(context.find("of ")) + " has no 'sql' (a query returning one column of URLs or database names)");
  fleet.query = std::move(query);
}

// One key of an environment's mapping into `e`. Throws UnsetVariable for an
// unset ${VAR}, ConfigError for anything else.
void parse_environment_key(const Reporter& reporter, const Reader& read, const fs::path& base, const std::string& name,
                           const YAML::Node& value, Environment& e, EnvironmentSource& source) {
  if (name == "url") {
    const auto text = read.string(name, value);
    try {
      e.url = DbUrl::parse(text);
    } catch (const ConfigError& error) {
      reporter.fail(value, read.where(name) + ": " + error.what());
    }
    e.literal_password = url_has_literal_password(Reader::literal_part(value.Scalar()));
  } else if (name == "promote_from") {
    e.promote_from = read.scalar(name, value, "an environment name");
    source.promote_from = value;
  } else if (name == "backup") {
    e.backup = read.choice<BackupPolicy>(name, value, {{"required", BackupPolicy::required}, {"off", BackupPolicy::off}});
  } else if (name == "lint") {
    e.lint = read.choice<LintPolicy>(
        name, value, {{"block", LintPolicy::block}, {"warn", LintPolicy::warn}, {"off", LintPolicy::off}});
  } else if (name == "confirm") {
    e.confirm = read.boolean(name, value);
  } else if (name == "durable_each") {
    e.durable_each = read.boolean(name, value);
  } else if (name == "lock_timeout" || name == "statement_timeout") {
    // Kept as written (PostgreSQL reads it) but checked here so a typo fails early.
    const auto text = read.string(name, value);
    if (!parse_duration(text)) reporter.fail(value, read.where(name) + " " + duration_error(text));
    (name == "lock_timeout" ? e.lock_timeout : e.statement_timeout) = text;
  } else if (name == "lock_wait") {
    e.lock_wait = read.duration(name, value);
  } else if (name == "backup_format") {
    e.backup_format = read.choice<BackupFormat>(name, value,
                                                {{"custom", BackupFormat::custom}, {"plain", BackupFormat::plain}});
  } else if (name == "backup_keep") {
    e.backup_keep = read.integer(name, value, 1, "a positive integer");
  } else if (name == "backup_timeout") {
    e.backup_timeout = read.duration(name, value);
    if (e.backup_timeout.count() <= 0) reporter.fail(value, read.where(name) + " must be longer than zero");
  } else if (name == "pg_bin_dir") {
    e.pg_bin_dir = read.path(name, value, base);
  } else if (name == "drift") {
    e.drift = read.choice<DriftPolicy>(
        name, value, {{"block", DriftPolicy::block}, {"warn", DriftPolicy::warn}, {"off", DriftPolicy::off}});
  } else if (name == "scratch_url") {
    e.scratch_url = parse_url_value(reporter, read, name, value);
  } else if (name == "databases") {
    if (!e.fleet) e.fleet.emplace();
    parse_databases(reporter, read, value, *e.fleet, e.literal_password);
  } else if (name == "databases_query") {
    if (!e.fleet) e.fleet.emplace();
    parse_databases_query(reporter, read, value, e.name, *e.fleet);
  } else if (name == "parallel") {
    if (!e.fleet) e.fleet.emplace();
    e.fleet->parallel = read.integer(name, value, 1, "an integer from 1 to " + std::to_string(k_max_parallel));
    if (e.fleet->parallel > k_max_parallel) {
      reporter.fail(value, read.where(name) + " must be an integer from 1 to " + std::to_string(k_max_parallel) +
                               ", got '" + value.Scalar() + "'");
    }
  } else if (name == "on_error") {
    if (!e.fleet) e.fleet.emplace();
    e.fleet->on_error = read.choice<OnError>(name, value, {{"stop", OnError::stop}, {"continue", OnError::continue_on}});
  }
}

// url, databases and databases_query: exactly one; parallel and on_error only for a fleet.
void check_database_keys(const Reporter& reporter, const YAML::Node& key, const YAML::Node& body, Environment& e) {
  std::map<std::string, YAML::Node> given;
  if (body.IsMap()) {
    for (auto it = body.begin(); it != body.end(); ++it) given.emplace(it->first.Scalar(), it->first);
  }
  const int sources = static_cast<int>(given.count("url") + given.count("databases") + given.count("databases_query"));
  if (sources == 0) reporter.fail(key, "environment '" + e.name + "' has no 'url'");
  if (sources > 1) {
    const auto& second = given.count("databases_query") != 0 ? given["databases_query"] : given["databases"];
    reporter.fail(second, "environment '" + e.name +
                              "' has more than one of 'url', 'databases' and 'databases_query'; give exactly one");
  }
  if (given.count("url") != 0) {
    for (const char* k : {"parallel", "on_error"}) {
      if (given.count(k) != 0) {
        reporter.fail(given[k], "'" + std::string(k) + "' in environment '" + e.name +
                                    "' applies only to a fleet ('databases' or 'databases_query'), not to one 'url'");
      }
    }
    e.fleet.reset();
    return;
  }
  const auto count = e.fleet->query ? std::string("databases_query") : std::to_string(e.fleet->databases.size()) + " databases";
  e.url = EnvironmentUrl::unresolved("environment '" + e.name + "' is a fleet (" + count +
                                         "): pick one database with --database NAME (`mgr status " + e.name +
                                         " --databases` lists them)",
                                     "");
}

Environment parse_environment(const Reporter& reporter, const EnvLookup& env, const fs::path& base,
                              const YAML::Node& key, const YAML::Node& body, EnvironmentSource& source) {
  Environment e;
  e.name = key.Scalar();
  e.line = key.Mark().line + 1;
  source.key = key;
  if (!body.IsMap() && !body.IsNull()) {
    reporter.fail(body, "environment '" + e.name + "' must be a mapping with at least 'url', got " + describe(body));
  }
  const std::string context = "in environment '" + e.name + "'";
  const Reader read(reporter, env, "environment '" + e.name + "'");
  // The first unset ${VAR} of this environment; the others' keys still get checked.
  std::optional<UnsetVariable> unset;
  if (body.IsMap()) {
    for (const auto& [k, value] : entries(reporter, body, k_environment_keys, context)) {
      const auto& name = k.Scalar();
      try {
        parse_environment_key(reporter, read, base, name, value, e, source);
      } catch (const UnsetVariable& error) {
        if (!unset) unset = error;
      }
    }
  }
  if (unset) e.url = EnvironmentUrl::unresolved(unset->what(), unset->variable());
  check_database_keys(reporter, key, body, e);
  return e;
}

// Promotion sources must exist, not be the environment itself, form no cycle
// and be declared earlier (declaration order is promotion order).
void check_promotions(const Reporter& reporter, const std::vector<Environment>& envs,
                      const std::vector<EnvironmentSource>& sources) {
  std::map<std::string, std::size_t> index;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < envs.size(); ++i) {
    index.emplace(envs[i].name, i);
    names.push_back(envs[i].name);
  }
  for (std::size_t i = 0; i < envs.size(); ++i) {
    const auto& from = envs[i].promote_from;
    if (!from) continue;
    if (*from == envs[i].name) {
      reporter.fail(sources[i].promote_from, "environment '" + envs[i].name + "' cannot promote from itself");
    }
    if (index.count(*from) == 0) {
      reporter.fail(sources[i].promote_from, "environment '" + envs[i].name + "' promotes from unknown environment '" +
                                                 *from + "'" + suggestion(*from, names) + " (known: " +
                                                 join(names, ", ") + ")");
    }
  }
  // Each environment has at most one source, so following the chain from each
  // environment either ends or revisits a node on the chain: a cycle.
  for (std::size_t start = 0; start < envs.size(); ++start) {
    std::vector<std::size_t> chain;
    std::size_t current = start;
    while (true) {
      const auto seen = std::find(chain.begin(), chain.end(), current);
      if (seen != chain.end()) {
        std::vector<std::size_t> cycle(seen, chain.end());
        if (*std::min_element(cycle.begin(), cycle.end()) != start) break;  // reported from its first member
        // The chain runs target -> source; print it the way changes flow: source -> target.
        std::reverse(cycle.begin(), cycle.end());
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
        std::vector<std::string> cycle_names;
        for (auto i : cycle) cycle_names.push_back(envs[i].name);
        cycle_names.push_back(envs[cycle.front()].name);
        reporter.fail(sources[start].promote_from, "promotion cycle: " + join(cycle_names, " -> "));
      }
      chain.push_back(current);
      if (!envs[current].promote_from) break;
      current = index.at(*envs[current].promote_from);
    }
  }
  for (std::size_t i = 0; i < envs.size(); ++i) {
    const auto& from = envs[i].promote_from;
    if (from && index.at(*from) > i) {
      reporter.fail(sources[i].promote_from,
                    "environment '" + envs[i].name + "' promotes from '" + *from +
                        "', which is declared after it; declare '" + *from + "' before '" + envs[i].name +
                        "' (promotion order is declaration order)");
    }
  }
}

}  // namespace

EnvironmentUrl EnvironmentUrl::unresolved(std::string message, std::string variable) {
  EnvironmentUrl out;
  out.m_error = std::move(message);
  out.m_variable = std::move(variable);
  return out;
}

const DbUrl& EnvironmentUrl::get() const {
  if (!m_error.empty()) throw ConfigError(m_error);
  return m_url;
}

std::string QualifiedName::quoted() const {
  return schema.empty() ? sql_quote_identifier(table) : sql_quote_identifier(schema) + "." + sql_quote_identifier(table);
}

std::string QualifiedName::display() const { return schema.empty() ? table : schema + "." + table; }

const Environment* Config::find(const std::string& name) const {
  for (const auto& e : environments) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const Environment& Config::get(const std::string& name) const {
  if (const auto* e = find(name)) return *e;
  std::vector<std::string> names;
  for (const auto& e : environments) names.push_back(e.name);
  throw UsageError("unknown environment '" + name + "' (known: " + join(names, ", ") + ")");
}

EnvLookup process_env_lookup() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string{value};
  };
}

namespace {

enum class DurationStatus { ok, malformed, too_long };

// std::from_chars and an overflow-checked multiply: no digit count guesses, no UB.
DurationStatus parse_duration_into(const std::string& text, std::chrono::milliseconds& out) {
  auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  std::size_t i = 0;
  while (i < text.size() && is_blank(text[i])) ++i;
  // from_chars takes a leading '-'; a duration never has a sign.
  if (i >= text.size() || text[i] < '0' || text[i] > '9') return DurationStatus::malformed;
  long long number = 0;
  const char* const end = text.data() + text.size();
  const auto [after, ec] = std::from_chars(text.data() + i, end, number);
  std::size_t j = static_cast<std::size_t>(after - text.data());
  if (ec == std::errc::result_out_of_range) {
    // Still a number, only far too large: say so rather than "malformed".
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
  } else if (ec != std::errc{}) {
    return DurationStatus::malformed;
  }
  while (j < text.size() && is_blank(text[j])) ++j;
  std::size_t unit_end = text.size();
  while (unit_end > j && is_blank(text[unit_end - 1])) --unit_end;
  const std::string unit = text.substr(j, unit_end - j);
  // PostgreSQL's time units, as accepted for lock_timeout and statement_timeout.
  static const std::map<std::string, long long> k_units = {
      {"", 1}, {"ms", 1}, {"s", 1000}, {"min", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  const auto it = k_units.find(unit);
  if (it == k_units.end()) return DurationStatus::malformed;
  if (ec == std::errc::result_out_of_range || number > k_max_duration.count() / it->second) {
    return DurationStatus::too_long;
  }
  out = std::chrono::milliseconds{number * it->second};
  return out > k_max_duration ? DurationStatus::too_long : DurationStatus::ok;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  std::chrono::milliseconds out{0};
  if (parse_duration_into(text, out) != DurationStatus::ok) return std::nullopt;
  return out;
}

std::string duration_error(const std::string& text) {
  std::chrono::milliseconds out{0};
  switch (parse_duration_into(text, out)) {
    case DurationStatus::ok:
      return "";
    case DurationStatus::too_long:
      return std::string("must be at most ") + k_max_duration_text + ", got '" + text + "'";
    case DurationStatus::malformed:
      break;
  }
  return "must be a duration such as 500ms, 10s, 15min, 1h or 2d, got '" + text + "'";
}

Config parse_config(const std::string& yaml_text, const fs::path& path, const EnvLookup& env) {
  const Reporter reporter(path);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    reporter.fail(e.mark, "invalid YAML: " + e.msg);
  }
  if (!root.IsMap()) {
    if (root.IsNull()) reporter.fail(root, "no environments defined (the config is empty; add an 'environments:' mapping)");
    reporter.fail(root, "the config must be a mapping with an 'environments:' key, got " + describe(root));
  }

  Config config;
  config.path = path;
  const fs::path base = fs::absolute(path).parent_path();
  config.migrations_dir = (base / "../migrations").lexically_normal();
  config.backups_dir = (base / "../schema-backups").lexically_normal();

  const Reader read(reporter, env, "");
  YAML::Node environments;
  YAML::Node environments_key;
  bool has_environments = false;
  for (const auto& [key, value] : entries(reporter, root, k_top_level_keys, "at the top level")) {
    const auto& name = key.Scalar();
    if (name == "migrations_dir") {
      config.migrations_dir = read.path(name, value, base);
    } else if (name == "backups_dir") {
      config.backups_dir = read.path(name, value, base);
    } else if (name == "history_table") {
      config.history_table = parse_history_table(reporter, value, read.string(name, value));
    } else if (name == "pg_bin_dir") {
      config.pg_bin_dir = read.path(name, value, base);
    } else if (name == "lint_pg_version") {
      config.lint_pg_version = read.integer(name, value, k_min_lint_pg_version, "an integer >= 10");
    } else if (name == "scratch_url") {
      config.scratch_url = parse_url_value(reporter, read, name, value);
    } else if (name == "environments") {
      has_environments = true;
      environments_key = key;
      environments = value;
    }
  }

  if (!has_environments) reporter.fail(root, "no environments defined (add an 'environments:' mapping)");
  if (environments.IsNull() || (environments.IsMap() && environments.size() == 0)) {
    reporter.fail(environments_key, "no environments defined under 'environments'");
  }
  if (!environments.IsMap()) {
    reporter.fail(environments, "'environments' must be a mapping of environment names, got " + describe(environments));
  }

  std::vector<EnvironmentSource> sources;
  for (const auto& [key, body] : entries(reporter, environments, {}, "in 'environments'")) {
    const auto& name = key.Scalar();
    if (!is_environment_name(name)) {
      reporter.fail(key, "invalid environment name '" + name +
                             "' (use lower-case letters, digits, '_' and '-', starting with a letter)");
    }
    sources.emplace_back();
    config.environments.push_back(parse_environment(reporter, env, base, key, body, sources.back()));
  }
  check_promotions(reporter, config.environments, sources);
  return config;
}

namespace {

// As ssh does for private keys: a password written in a file that others can
// read is worth a warning (not a refusal: the file may be on a private machine).
void warn_if_password_exposed(const Config& config) {
  std::vector<std::string> names;
  for (const auto& e : config.environments) {
    if (e.literal_password) names.push_back(e.name);
  }
  struct stat st {};
  if (names.empty() || ::stat(config.path.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  spdlog::warn("{} holds the database password of {} and is readable by {} (mode {}); run chmod 600 {}, "
               "or take the password from an environment variable (${{VAR}})",
               config.path.string(), join(names, ", "), (st.st_mode & 007) != 0 ? "others" : "its group", mode,
               config.path.string());
}

}  // namespace

namespace {
std::optional<Environment>& selected_member() {
  static std::optional<Environment> member;
  return member;
}
}  // namespace

void select_fleet_member(Environment member) { selected_member() = std::move(member); }

Config load_config(const fs::path& path, const EnvLookup& env) {
  auto config = load_config_quietly(path, env);
  warn_if_password_exposed(config);
  if (const auto& member = selected_member()) {
    for (auto& e : config.environments) {
      if (e.name == member->name && e.fleet) e = *member;
    }
  }
  return config;
}

Config load_config_quietly(const fs::path& path, const EnvLookup& env) {
  const std::string how = " (choose another file with --config PATH or MGR_CONFIG)";
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw ConfigError("cannot read config file '" + path.string() + "': it is a directory" + how);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError("cannot read config file '" + path.string() + "': " + std::strerror(errno) + how);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read config file '" + path.string() + "'" + how);
  return parse_config(text.str(), path, env);
}

fs::path resolve_config_path(const std::optional<std::string>& flag, const EnvLookup& env) {
  if (flag && !flag->empty()) return *flag;
  if (env) {
    if (const auto from_env = env("MGR_CONFIG"); from_env && !from_env->empty()) return *from_env;
  }
  return k_default_config_path;
}

}  // namespace mgr
