// Fleets: one environment made of many databases (docs/fleets.md).
//
// The pure part: naming each database, shard slices, the promotion gate over
// a fleet of sources, and the counts `status` and `apply` report. No I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mgr/catalog.hpp"
#include "mgr/config.hpp"
#include "mgr/history_row.hpp"
#include "mgr/plan.hpp"

namespace mgr {

// One database of a fleet.
struct FleetMember {
  std::string name;      // unique in the fleet: the database name, or name@host:port when two share a name
  std::string identity;  // database@host:port: stable, never a password; what shards hash
  DbUrl url;
};

// database@host:port with libpq's defaults where the URL says nothing
// (database: the user, host: "local" for the socket, port 5432).
std::string database_identity(const DbUrl& url);

// The members of `databases:` in order; an unset ${VAR} throws its
// ConfigError, the same database listed twice a ConfigError naming both.
std::vector<FleetMember> fleet_members(const std::vector<FleetEntry>& entries);

// One row of `databases_query`: a URL or key=value string is taken as it is;
// anything else is a database name on the catalog's server (same host,
// port, user, password, options).
DbUrl fleet_url_from_query_value(const DbUrl& catalog, const std::string& value);
// Members from the query's rows (`where` names the query for messages).
std::vector<FleetMember> fleet_members_from_query(const DbUrl& catalog, const std::vector<std::string>& values,
                                                  const std::string& where);

// How `mgr config` shows a fleet: "fleet of 3 databases: postgresql://h/a, ..." or
// "fleet from databases_query on postgresql://h/catalog"; never a password.
std::string fleet_description(const Environment& env);
// Throws the ConfigError of the first unset ${VAR} among the fleet's databases.
void check_fleet_variables(const Environment& env);

// --shard K/N: the K-th (1-based) of N slices.
struct Shard {
  int k = 1;
  int n = 1;
};
// Throws UsageError naming --shard unless `text` is K/N with 1 <= K <= N.
Shard parse_shard(const std::string& text);
// Which slice (0-based) a database belongs to: SHA-256 of its identity, mod n,
// so the slices do not change when the list is reordered or grows.
int shard_of(const std::string& identity, int n);
std::vector<FleetMember> shard_slice(const std::vector<FleetMember>& members, const std::optional<Shard>& shard);

// The member by name (or identity); UsageError listing a few names when absent.
const FleetMember& find_member(const std::vector<FleetMember>& members, const std::string& env_name,
                               const std::string& name);

// The environment one database of a fleet runs as: the fleet's settings, the
// member's URL, `database` set, no `fleet`.
Environment fleet_member_environment(const Environment& fleet, const FleetMember& member);
// `config` with `member` in place of the fleet environment of the same name.
Config fleet_member_config(const Config& config, const Environment& member);

// The promotion gate when the source is a fleet: a migration may be promoted
// only when every source database has it, successfully, with the file's
// checksum. Sources are added one at a time and only what they agree on is
// kept, so memory grows with the migrations, not with the fleet.
class FleetSource {
 public:
  explicit FleetSource(std::string env) : m_env(std::move(env)) {}
  void add(const std::string& database, const std::vector<HistoryRow>& rows);
  void add_unreachable(const std::string& database, const std::string& error);
  // Every reason `candidates` may not be promoted (codes as check_gate's).
  std::vector<Diagnostic> check(const std::vector<const Migration*>& candidates) const;
  std::size_t databases() const { return m_databases; }

 private:
  struct Agreed {
    std::string checksum;
    bool success = true;
    std::string name;
  };
  struct Missing {
    std::string database;  // the first source database without it (or disagreeing)
    Code code;             // not_in_source | source_failed | source_checksum_differs
  };
  std::string m_env;
  std::size_t m_databases = 0;
  std::string m_first;  // the first source database added
  std::map<std::string, Agreed> m_agreed;   // by canonical id: on every source so far
  std::map<std::string, Missing> m_missing;  // by canonical id: on some source, not on all
  std::optional<std::pair<std::string, std::string>> m_unreachable;  // the first: database, error
  std::size_t m_unreachable_count = 0;
};

// Where one database of a fleet stands.
enum class DatabaseState { at_head, behind, ahead, failed, unreachable };
const char* database_state_name(DatabaseState state);
// From its history against the catalog: failed rows first, then files
// missing for recorded migrations (ahead), then pending ones (behind).
DatabaseState classify_database(const Catalog& catalog, const std::vector<HistoryRow>& rows);

struct FleetCounts {
  int total = 0;
  int at_head = 0;
  int behind = 0;
  int ahead = 0;
  int failed = 0;
  int drifted = 0;  // beside the others: a database at head may have drifted
  int unreachable = 0;
  void add(DatabaseState state, bool drifted);
  // "10/12 at head, 1 behind, 0 ahead, 1 failed, 0 drifted, 0 unreachable"
  std::string text() const;
  // "10/12"
  std::string head_fraction() const;
  bool all_at_head() const { return at_head == total && drifted == 0; }
};

}  // namespace mgr
