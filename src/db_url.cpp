#include "mgr/db_url.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mgr/error.hpp"

namespace mgr {

namespace {

constexpr const char* k_mask = "***";

bool is_secret_keyword(const std::string& key);

// A byte range [begin, end) of the original text that holds a password.
using Span = std::pair<std::size_t, std::size_t>;

bool starts_with_icase(const std::string& text, const std::string& prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

// Length of the postgres URI designator ("postgresql://" or "postgres://"), 0 if none.
// libpq compares the prefix case-sensitively; so do we.
std::size_t uri_prefix_length(const std::string& text) {
  for (const char* prefix : {"postgresql://", "postgres://"}) {
    const std::string p{prefix};
    if (text.compare(0, p.size(), p) == 0) return p.size();
  }
  return 0;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Secret spans in a URI: the userinfo's password (the userinfo ends at the
// first '@' before any '/') and the values of query parameters named like a
// secret keyword. A percent-encoded parameter name is not recognised here:
// the check in redacted_text catches it.
std::vector<Span> uri_password_spans(const std::string& text, std::size_t prefix_len) {
  std::vector<Span> spans;
  std::size_t p = prefix_len;
  while (p < text.size() && text[p] != '@' && text[p] != '/') ++p;
  if (p < text.size() && text[p] == '@') {
    const auto colon = text.find(':', prefix_len);
    if (colon != std::string::npos && colon < p && colon + 1 < p) spans.emplace_back(colon + 1, p);
  }
  // The query starts after the userinfo: a '?' inside the password is not one.
  const auto q = text.find('?', p < text.size() && text[p] == '@' ? p : prefix_len);
  if (q == std::string::npos) return spans;
  std::size_t start = q + 1;
  while (start <= text.size()) {
    auto amp = text.find('&', start);
    if (amp == std::string::npos) amp = text.size();
    const auto eq = text.find('=', start);
    if (eq != std::string::npos && eq < amp && is_secret_keyword(text.substr(start, eq - start)) &&
        eq + 1 < amp) {
      spans.emplace_back(eq + 1, amp);
    }
    start = amp + 1;
  }
  return spans;
}

// Secret value spans in a key=value string (whitespace around '=',
// single-quoted values, backslash escapes). Only called on text libpq has
// already accepted; redacted_text checks the result with libpq.
std::vector<Span> keyword_password_spans(const std::string& text) {
  std::vector<Span> spans;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && is_space(text[i])) ++i;
    if (i >= n) break;
    const std::size_t key_begin = i;
    while (i < n && !is_space(text[i]) && text[i] != '=') ++i;
    const std::string key = text.substr(key_begin, i - key_begin);
    while (i < n && is_space(text[i])) ++i;
    if (i < n && text[i] == '=') ++i;
    while (i < n && is_space(text[i])) ++i;
    const std::size_t value_begin = i;
    if (i < n && text[i] == '\'') {
      ++i;
      while (i < n && text[i] != '\'') i += (text[i] == '\\' && i + 1 < n) ? 2 : 1;
      if (i < n) ++i;  // closing quote
    } else {
      while (i < n && !is_space(text[i])) i += (text[i] == '\\' && i + 1 < n) ? 2 : 1;
    }
    if (is_secret_keyword(key) && i > value_begin) spans.emplace_back(value_begin, i);
  }
  return spans;
}

std::vector<Span> password_spans(const std::string& text) {
  const auto prefix = uri_prefix_length(text);
  return prefix > 0 ? uri_password_spans(text, prefix) : keyword_password_spans(text);
}

std::string mask_spans(const std::string& text, std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end());
  std::string out;
  std::size_t pos = 0;
  for (const auto& [begin, end] : spans) {
    if (begin < pos) continue;
    out.append(text, pos, begin - pos);
    out.append(k_mask);
    pos = end;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

void replace_all(std::string& text, const std::string& needle, const std::string& with) {
  if (needle.empty()) return;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + with.size())) {
    text.replace(pos, needle.size(), with);
  }
}

// libpq's own list of secret options (dispchar "*": password, sslpassword, and
// whatever a newer libpq adds), so none is ever shown or put on a command line.
const std::set<std::string>& secret_keywords() {
  static const std::set<std::string> keywords = [] {
    std::set<std::string> out{"password"};
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> defaults(PQconndefaults(), PQconninfoFree);
    for (auto* o = defaults.get(); o != nullptr && o->keyword != nullptr; ++o) {
      if (o->dispchar != nullptr && std::strchr(o->dispchar, '*') != nullptr) out.insert(o->keyword);
    }
    return out;
  }();
  return keywords;
}

bool is_secret_keyword(const std::string& key) { return secret_keywords().count(key) > 0; }

const std::set<std::string>& known_keywords() {
  static const std::set<std::string> keywords = [] {
    std::set<std::string> out;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> defaults(PQconndefaults(), PQconninfoFree);
    for (auto* o = defaults.get(); o != nullptr && o->keyword != nullptr; ++o) out.insert(o->keyword);
    return out;
  }();
  return keywords;
}

// libpq's parse errors quote pieces of the input (`missing "=" after "..."`),
// which may be the password. Keep quoted text only when it is a libpq keyword
// or a lone punctuation character; anything else becomes "...".
std::string sanitize_libpq_error(const std::string& message) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = message.find('"', pos);
    if (open == std::string::npos) break;
    const auto close = message.find('"', open + 1);
    if (close == std::string::npos) break;
    const std::string inner = message.substr(open + 1, close - open - 1);
    const bool keep = known_keywords().count(inner) > 0 ||
                      (inner.size() == 1 && std::ispunct(static_cast<unsigned char>(inner[0])));
    out.append(message, pos, open + 1 - pos);
    out.append(keep ? inner : "...");
    out.push_back('"');
    pos = close + 1;
  }
  out.append(message, pos, std::string::npos);
  while (!out.empty() && (out.back() == '\n' || is_space(out.back()))) out.pop_back();
  return out;
}

// A key=value string starts with a keyword followed (after optional spaces) by '='.
bool looks_like_keyword_value(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  const std::size_t begin = i;
  while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
  if (i == begin) return false;
  while (i < text.size() && is_space(text[i])) ++i;
  return i < text.size() && text[i] == '=';
}

std::string quote_conninfo_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

using Options = std::map<std::string, std::string>;

// libpq's reading of a connection string: the keywords with a non-empty
// value; nullopt when libpq rejects it.
std::optional<Options> libpq_options(const std::string& text) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(PQconninfoParse(text.c_str(), &err),
                                                                       PQconninfoFree);
  if (err != nullptr) PQfreemem(err);
  if (!parsed) return std::nullopt;
  Options out;
  for (auto* o = parsed.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr && *o->val != '\0') out.emplace(o->keyword, o->val);
  }
  return out;
}

std::string percent_encode(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// The options written out again by mgr, URI in, URI out: user@, one plain
// host and its port, /dbname, everything else (secrets already ***) as
// query parameters; or key=value pairs, alphabetically.
std::string render_options(Options options, const std::string& scheme) {
  auto encode = [](const std::string& value) { return value == k_mask ? value : percent_encode(value); };
  if (scheme.empty()) {
    std::string out;
    for (const auto& [key, value] : options) {
      const bool plain = value.find_first_of(" \t\n\r\f\v'\\") == std::string::npos;
      out += (out.empty() ? "" : " ") + key + "=" + (plain ? value : quote_conninfo_value(value));
    }
    return out;
  }
  auto take = [&](const char* key) {
    auto node = options.extract(key);
    return node ? node.mapped() : std::string();
  };
  std::string out = scheme;
  if (auto user = take("user"); !user.empty()) out += encode(user) + "@";
  const auto host = options.count("host") != 0 ? options.at("host") : std::string();
  const auto port = options.count("port") != 0 ? options.at("port") : std::string();
  // Several hosts, a socket directory or an IPv6 address go as parameters.
  if (!host.empty() && host.find_first_of(",/:") == std::string::npos && port.find(',') == std::string::npos) {
    out += encode(take("host"));
    if (!port.empty()) out += ":" + take("port");
  }
  out += "/" + encode(take("dbname"));
  char sep = '?';
  for (const auto& [key, value] : options) {
    out += sep + key + "=" + encode(value);
    sep = '&';
  }
  return out;
}

// What redacted() shows: the text as written with every secret value
// replaced by ***, provided libpq reads that back as exactly the same
// options with each secret ***; otherwise (a spelling the span finder does
// not know) the options as libpq parsed them, written out by mgr.
std::string redacted_text(const std::string& text, const Options& parsed) {
  Options expected = parsed;
  for (auto& [key, value] : expected) {
    if (is_secret_keyword(key)) value = k_mask;
  }
  const auto masked = mask_spans(text, password_spans(text));
  if (auto shown = libpq_options(masked)) {
    // A secret set but empty (password='') is masked too: *** there is fine.
    for (const auto& [key, value] : *shown) {
      if (value == k_mask && is_secret_keyword(key)) expected.emplace(key, value);
    }
    if (*shown == expected) return masked;
  }
  const auto prefix = uri_prefix_length(text);
  return render_options(expected, text.substr(0, prefix));
}

}  // namespace

const std::set<std::string>& secret_conninfo_keywords() { return secret_keywords(); }

DbUrl DbUrl::parse(const std::string& text) {
  bool blank = true;
  for (char c : text) blank = blank && is_space(c);
  if (blank) throw ConfigError("database URL is empty");

  const bool is_uri = uri_prefix_length(text) > 0;
  if (!is_uri) {
    // Checked before libpq so the message says what is wrong in our terms.
    if (starts_with_icase(text, "postgresql://") || starts_with_icase(text, "postgres://")) {
      throw ConfigError("database URL scheme must be lower-case postgresql:// or postgres://");
    }
    if (const auto scheme_end = text.find("://"); scheme_end != std::string::npos &&
                                                  !looks_like_keyword_value(text)) {
      std::string scheme = text.substr(0, scheme_end);
      bool plain = !scheme.empty();
      for (char c : scheme) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.');
      throw ConfigError("database URL must start with postgresql:// or postgres://" +
                        (plain ? " (got '" + scheme + "://')" : std::string{}));
    }
    if (!looks_like_keyword_value(text)) {
      throw ConfigError(
          "database URL is neither a postgresql:// URI nor a libpq key=value string "
          "(e.g. postgresql://user@host:5432/db or host=... dbname=...)");
    }
  }

  if (is_uri) {
    // libpq ends the userinfo at the first '/', so a raw '/' in a password turns
    // the rest into host and dbname, where nothing would redact it.
    const auto prefix = uri_prefix_length(text);
    const auto slash = text.find('/', prefix);
    const auto at = text.find('@', slash == std::string::npos ? text.size() : slash);
    if (slash != std::string::npos && at != std::string::npos && at < text.find('?', slash)) {
      throw ConfigError(
          "database URL has '@' after the host part; percent-encode special characters in the user name "
          "and password (%40 for '@', %2F for '/')");
    }
    // libpq ends the userinfo at the first '@': a second one before the path
    // means an unencoded '@' in the password, whose rest would become the host.
    const auto authority = text.substr(prefix, slash == std::string::npos ? std::string::npos : slash - prefix);
    if (std::count(authority.begin(), authority.end(), '@') > 1) {
      throw ConfigError(
          "database URL has more than one '@' before the host; percent-encode special characters in the user "
          "name and password (%40 for '@', %2F for '/', %3A for ':')");
    }
  }

  char* errmsg = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(PQconninfoParse(text.c_str(), &errmsg),
                                                                       PQconninfoFree);
  if (!parsed) {
    std::string reason = errmsg != nullptr ? sanitize_libpq_error(errmsg) : "out of memory";
    if (errmsg != nullptr) PQfreemem(errmsg);
    throw ConfigError("invalid database URL: " + reason);
  }

  DbUrl url;
  url.m_raw = text;
  for (auto* o = parsed.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    if (key == "password") {
      url.m_password = o->val;
    } else if (is_secret_keyword(key)) {
      if (*o->val != '\0') url.m_secrets.emplace(key, o->val);
    } else if (*o->val != '\0') {
      url.m_options.emplace(key, o->val);
    }
  }
  Options all = url.m_options;
  all.insert(url.m_secrets.begin(), url.m_secrets.end());
  if (url.m_password && !url.m_password->empty()) all.emplace("password", *url.m_password);
  url.m_redacted = redacted_text(text, all);
  return url;
}

std::string DbUrl::conninfo_without_password() const {
  std::string out;
  for (const auto& [key, value] : m_options) {
    if (!out.empty()) out.push_back(' ');
    out += key + "=" + quote_conninfo_value(value);
  }
  return out;
}

std::string DbUrl::option(const std::string& key) const {
  const auto it = m_options.find(key);
  return it == m_options.end() ? std::string{} : it->second;
}

std::string redact_secrets(const std::string& text, const DbUrl& url) {
  std::string out = text;
  const bool has_password = url.password() && !url.password()->empty();
  if (has_password || !url.secret_options().empty()) {
    // The secrets as written too: percent-encoded in a URI, escaped in key=value.
    const std::string& raw = url.conninfo_with_secret();
    for (const auto& [begin, end] : password_spans(raw)) replace_all(out, raw.substr(begin, end - begin), k_mask);
    if (has_password) replace_all(out, *url.password(), k_mask);
    for (const auto& [key, value] : url.secret_options()) replace_all(out, value, k_mask);
  }
  // Any other scheme://user:password@ in the text.
  std::vector<Span> spans;
  for (auto pos = out.find("://"); pos != std::string::npos; pos = out.find("://", pos + 3)) {
    const std::size_t start = pos + 3;
    std::size_t p = start;
    while (p < out.size() && out[p] != '@' && out[p] != '/' && !is_space(out[p])) ++p;
    if (p >= out.size() || out[p] != '@') continue;
    const auto colon = out.find(':', start);
    if (colon != std::string::npos && colon + 1 < p && out.compare(colon + 1, p - colon - 1, k_mask) != 0) {
      spans.emplace_back(colon + 1, p);
    }
  }
  return mask_spans(out, spans);
}

}  // namespace mgr
