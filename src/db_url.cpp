#include "mgr/db_url.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <set>
#include <utility>
#include <vector>

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

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Password spans in a URI, mirroring libpq's conninfo_uri_parse_options: the
// userinfo ends at the first '@' before any '/', and query parameters named
// "password" (percent-decoded) carry one too.
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
    if (eq != std::string::npos && eq < amp && is_secret_keyword(percent_decode(text.substr(start, eq - start))) &&
        eq + 1 < amp) {
      spans.emplace_back(eq + 1, amp);
    }
    start = amp + 1;
  }
  return spans;
}

// Password value spans in a key=value string, mirroring libpq's conninfo_parse
// (whitespace around '=', single-quoted values, backslash escapes). Only called
// on text libpq has already accepted.
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
  url.m_redacted = mask_spans(text, password_spans(text));
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
