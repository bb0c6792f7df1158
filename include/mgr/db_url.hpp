// A database connection string that never prints its password.
//
// Accepts what libpq accepts: a postgresql:// or postgres:// URI, or a
// key=value conninfo string (parsed by libpq's own PQconninfoParse). The
// password is kept apart so it can be handed to libpq or to a child process
// environment (PGPASSWORD), never to logs, output, manifests or argv.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

namespace mgr {

class DbUrl {
 public:
  DbUrl() = default;

  // Throws ConfigError (message without position: the caller adds it) when
  // the text is neither a postgres URI nor a libpq key=value string.
  static DbUrl parse(const std::string& text);

  // The text as written, password (and any other secret option) replaced with ***: postgresql://app:***@host/db
  const std::string& redacted() const { return m_redacted; }

  // Full conninfo for libpq, password included. Only db sessions use this.
  const std::string& conninfo_with_secret() const { return m_raw; }

  // key='value' conninfo without the password (for pg_dump --dbname=...).
  std::string conninfo_without_password() const;

  const std::optional<std::string>& password() const { return m_password; }

  // Parsed libpq options with non-empty values (host, port, dbname, user, ...);
  // never contains "password" nor any other secret option (see secret_options).
  const std::map<std::string, std::string>& options() const { return m_options; }

  // Secret libpq options other than the password (those PQconndefaults marks
  // with dispchar "*", e.g. sslpassword): redacted like the password, never in
  // options() or conninfo_without_password().
  const std::map<std::string, std::string>& secret_options() const { return m_secrets; }
  std::string option(const std::string& key) const;

  bool empty() const { return m_raw.empty(); }

 private:
  std::string m_raw;
  std::string m_redacted;
  std::optional<std::string> m_password;
  std::map<std::string, std::string> m_options;
  std::map<std::string, std::string> m_secrets;
};

// Replaces any occurrence of a known password (and URI userinfo passwords)
// in free text, e.g. a libpq error message. Used before anything is logged.
std::string redact_secrets(const std::string& text, const DbUrl& url);

// libpq's secret connection options (PQconndefaults' dispchar "*": password,
// sslpassword, ...): never shown, never on a child's command line.
const std::set<std::string>& secret_conninfo_keywords();

}  // namespace mgr
