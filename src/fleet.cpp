#include "mgr/fleet.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "mgr/error.hpp"
#include "mgr/text.hpp"

namespace mgr {

namespace {

std::string short_sum(const std::string& s) { return s.size() > 12 ? s.substr(0, 12) : s; }

// A libpq conninfo value in single quotes (backslash and quote escaped), as libpq reads it.
std::string conninfo_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

bool looks_like_connection_string(const std::string& value) {
  return value.find("://") != std::string::npos || value.find('=') != std::string::npos;
}

// Names: the database name, unless two members share it; then name@host:port.
void name_members(std::vector<FleetMember>& members) {
  std::map<std::string, int> uses;
  for (const auto& m : members) ++uses[m.url.option("dbname").empty() ? m.identity : m.url.option("dbname")];
  for (auto& m : members) {
    const auto short_name = m.url.option("dbname").empty() ? m.identity : m.url.option("dbname");
    m.name = uses[short_name] > 1 ? m.identity : short_name;
  }
}

}  // namespace

std::string database_identity(const DbUrl& url) {
  auto database = url.option("dbname");
  if (database.empty()) database = url.option("user");
  auto host = url.option("host");
  if (host.empty()) host = url.option("hostaddr");
  if (host.empty() || host[0] == '/') host = host.empty() ? "local" : host;
  auto port = url.option("port");
  if (port.empty()) port = "5432";
  return database + "@" + host + ":" + port;
}

std::vector<FleetMember> fleet_members(const std::vector<FleetEntry>& entries) {
  std::vector<FleetMember> members;
  members.reserve(entries.size());
  std::unordered_map<std::string, std::string> where_by_identity;
  for (const auto& entry : entries) {
    FleetMember m;
    m.url = entry.url.get();  // an unset ${VAR}: its ConfigError
    m.identity = database_identity(m.url);
    if (auto [it, fresh] = where_by_identity.emplace(m.identity, entry.text); !fresh) {
      throw ConfigError(entry.text + ": " + m.identity + " is listed twice in 'databases' (first at " + it->second +
                        "); each database may be in a fleet once");
    }
    members.push_back(std::move(m));
  }
  name_members(members);
  return members;
}

DbUrl fleet_url_from_query_value(const DbUrl& catalog, const std::string& value) {
  if (looks_like_connection_string(value)) return DbUrl::parse(value);
  std::string conninfo;
  for (const auto& [key, v] : catalog.options()) {
    if (key == "dbname") continue;
    conninfo += key + "=" + conninfo_value(v) + " ";
  }
  for (const auto& [key, v] : catalog.secret_options()) conninfo += key + "=" + conninfo_value(v) + " ";
  if (catalog.password()) conninfo += "password=" + conninfo_value(*catalog.password()) + " ";
  return DbUrl::parse(conninfo + "dbname=" + conninfo_value(value));
}

std::vector<FleetMember> fleet_members_from_query(const DbUrl& catalog, const std::vector<std::string>& values,
                                                  const std::string& where) {
  std::vector<FleetMember> members;
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto& value = values[i];
    FleetMember m;
    try {
      m.url = fleet_url_from_query_value(catalog, value);
    } catch (const ConfigError& e) {
      throw ConfigError(where + ": databases_query row " + std::to_string(i + 1) + ": " + e.what());
    }
    m.identity = database_identity(m.url);
    if (!seen.insert(m.identity).second) continue;  // a query may name a database twice; it runs once
    members.push_back(std::move(m));
  }
  name_members(members);
  return members;
}

std::string fleet_description(const Environment& env) {
  if (!env.fleet) return "";
  if (env.fleet->query) {
    const auto& url = env.fleet->query->url;
    return "fleet from databases_query on " +
           (url.resolved() ? url.redacted() : "(" + url.unset_variable() + " is not set)");
  }
  std::vector<std::string> shown;
  for (const auto& d : env.fleet->databases) {
    if (shown.size() == 3) {
      shown.push_back("...");
      break;
    }
    shown.push_back(d.url.resolved() ? d.url.redacted() : "(" + d.url.unset_variable() + " is not set)");
  }
  return "fleet of " + std::to_string(env.fleet->databases.size()) + " databases: " + join(shown, ", ");
}

void check_fleet_variables(const Environment& env) {
  if (!env.fleet) return;
  if (env.fleet->query) (void)env.fleet->query->url.get();
  for (const auto& d : env.fleet->databases) (void)d.url.get();
}

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  auto number = [](const std::string& s) -> int {
    if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return 0;
    }
    return std::stoi(s);
  };
  Shard shard;
  if (slash != std::string::npos) {
    shard.k = number(text.substr(0, slash));
    shard.n = number(text.substr(slash + 1));
  }
  if (slash == std::string::npos || shard.k < 1 || shard.n < 1 || shard.k > shard.n) {
    throw UsageError("--shard must be K/N with 1 <= K <= N (this worker's slice K of N), got '" + text + "'");
  }
  return shard;
}

int shard_of(const std::string& identity, int n) {
  const auto digest = sha256_hex(identity);
  const std::uint64_t value = std::stoull(digest.substr(0, 15), nullptr, 16);  // 60 bits: plenty for any N
  return static_cast<int>(value % static_cast<std::uint64_t>(n));
}

std::vector<FleetMember> shard_slice(const std::vector<FleetMember>& members, const std::optional<Shard>& shard) {
  if (!shard) return members;
  std::vector<FleetMember> out;
  for (const auto& m : members) {
    if (shard_of(m.identity, shard->n) == shard->k - 1) out.push_back(m);
  }
  return out;
}

const FleetMember& find_member(const std::vector<FleetMember>& members, const std::string& env_name,
                               const std::string& name) {
  for (const auto& m : members) {
    if (m.name == name || m.identity == name) return m;
  }
  std::vector<std::string> names;
  for (const auto& m : members) names.push_back(m.name);
  auto hint = nearest(name, names);
  std::vector<std::string> some(names.begin(), names.begin() + static_cast<long>(std::min<std::size_t>(names.size(), 10)));
  throw UsageError("--database " + name + ": no such database in fleet '" + env_name + "'" +
                   (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; it has " +
                   std::to_string(names.size()) + ": " + join(some, ", ") + (names.size() > 10 ? ", ..." : ""));
}

Environment fleet_member_environment(const Environment& fleet, const FleetMember& member) {
  Environment e = fleet;
  e.fleet.reset();
  e.url = member.url;
  e.database = member.name;
  return e;
}

Config fleet_member_config(const Config& config, const Environment& member) {
  Config out = config;
  for (auto& e : out.environments) {
    if (e.name == member.name) e = member;
  }
  return out;
}

void FleetSource::add(const std::string& database, const std::vector<HistoryRow>& rows) {
  std::unordered_map<std::string, const HistoryRow*> by_id;
  for (const auto& r : rows) by_id.emplace(canonical_id(r.migration_id), &r);
  if (m_databases == 0 && m_first.empty()) {
    m_first = database;
    for (const auto& r : rows) {
      const auto id = canonical_id(r.migration_id);
      if (r.success) {
        m_agreed[id] = Agreed{r.checksum, true, r.name};
      } else {
        m_missing[id] = Missing{database, Code::source_failed};
      }
    }
  } else {
    for (auto it = m_agreed.begin(); it != m_agreed.end();) {
      const auto found = by_id.find(it->first);
      std::optional<Code> code;
      if (found == by_id.end()) code = Code::not_in_source;
      else if (!found->second->success) code = Code::source_failed;
      else if (found->second->checksum != it->second.checksum) code = Code::source_checksum_differs;
      if (!code) {
        ++it;
        continue;
      }
      m_missing.emplace(it->first, Missing{database, *code});
      it = m_agreed.erase(it);
    }
    // Recorded here but not on the first source: that one lacks it.
    for (const auto& [id, row] : by_id) {
      if (m_agreed.count(id) == 0 && m_missing.count(id) == 0) m_missing.emplace(id, Missing{m_first, Code::not_in_source});
    }
  }
  ++m_databases;
}

void FleetSource::add_unreachable(const std::string& database, const std::string& error) {
  if (!m_unreachable) m_unreachable = std::make_pair(database, error);
  ++m_unreachable_count;
  if (m_first.empty()) m_first = database;
}

std::vector<Diagnostic> FleetSource::check(const std::vector<const Migration*>& candidates) const {
  std::vector<Diagnostic> problems;
  auto problem = [&](Code code, const std::string& migration, std::string message) {
    auto d = diagnostic(code, std::move(message));
    d.migration = migration;
    problems.push_back(std::move(d));
  };
  if (candidates.empty()) return problems;
  if (m_unreachable) {
    problem(Code::source_unreachable, "",
                        "cannot check the promotion gate: " + std::to_string(m_unreachable_count) + " database(s) of '" +
                            m_env + "' are unreachable (first: " + m_unreachable->first + ": " +
                            m_unreachable->second + "); mgr will not promote without seeing every one");
    return problems;
  }
  const auto all = std::to_string(m_databases);
  for (const auto* m : candidates) {
    const auto id = canonical_id(m->id);
    if (const auto agreed = m_agreed.find(id); agreed != m_agreed.end() && m_databases > 0) {
      if (agreed->second.checksum != m->up.checksum) {
        problem(Code::source_checksum_differs, m->id,
                            m->label() + " was applied in every database of " + m_env + " with another checksum (" +
                                short_sum(agreed->second.checksum) + "... there, " + short_sum(m->up.checksum) +
                                "... in the file): the file changed after " + m_env + " got it");
      }
      continue;
    }
    const auto missing = m_missing.find(id);
    if (missing == m_missing.end()) {
      problem(Code::not_in_source, m->id,
                          m->label() + " has not been applied in " + m_env + " (none of its " + all +
                              " databases has it); apply it there first");
    } else if (missing->second.code == Code::source_failed) {
      problem(Code::source_failed, m->id,
                          m->label() + " failed in " + m_env + "/" + missing->second.database + "; repair it there first");
    } else if (missing->second.code == Code::source_checksum_differs) {
      problem(Code::source_checksum_differs, m->id,
                          m->label() + " was applied with different checksums across " + m_env + " (" + m_env + "/" +
                              missing->second.database + " differs); every database must have the same file");
    } else {
      problem(Code::not_in_source, m->id,
                          m->label() + " has not been applied in " + m_env + "/" + missing->second.database +
                              " (every one of the " + all + " databases of " + m_env + " must have it); apply it there first");
    }
  }
  return problems;
}

const char* database_state_name(DatabaseState state) {
  switch (state) {
    case DatabaseState::at_head: return "at-head";
    case DatabaseState::behind: return "behind";
    case DatabaseState::ahead: return "ahead";
    case DatabaseState::failed: return "failed";
    case DatabaseState::unreachable: return "unreachable";
  }
  return "unknown";
}

DatabaseState classify_database(const Catalog& catalog, const std::vector<HistoryRow>& rows) {
  bool ahead = false;
  for (const auto& r : rows) {
    if (!r.success) return DatabaseState::failed;
    if (catalog.find(r.migration_id) == nullptr) ahead = true;
  }
  if (ahead) return DatabaseState::ahead;
  return pending_migrations(catalog, rows).empty() ? DatabaseState::at_head : DatabaseState::behind;
}

void FleetCounts::add(DatabaseState state, bool is_drifted) {
  ++total;
  switch (state) {
    case DatabaseState::at_head: ++at_head; break;
    case DatabaseState::behind: ++behind; break;
    case DatabaseState::ahead: ++ahead; break;
    case DatabaseState::failed: ++failed; break;
    case DatabaseState::unreachable: ++unreachable; break;
  }
  if (is_drifted) ++drifted;
}

std::string FleetCounts::head_fraction() const { return std::to_string(at_head) + "/" + std::to_string(total); }

std::string FleetCounts::text() const {
  return head_fraction() + " at head, " + std::to_string(behind) + " behind, " + std::to_string(ahead) + " ahead, " +
         std::to_string(failed) + " failed, " + std::to_string(drifted) + " drifted, " + std::to_string(unreachable) +
         " unreachable";
}

}  // namespace mgr
