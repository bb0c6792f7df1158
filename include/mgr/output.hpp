// Rendering results for people (tables, colour) and for scripts (JSON), and
// asking for confirmation. Results go to stdout; logs go to stderr (spdlog).
#pragma once

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mgr/error.hpp"
#include "mgr/host.hpp"   // os_user_at_host, for the commands that record who ran them
#include "mgr/style.hpp"

namespace mgr {

// Simple aligned text table; cells may contain ANSI codes (ignored for width).
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : m_header(std::move(header)) {}
  void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }
  std::string render(const Style& style) const;

 private:
  std::vector<std::string> m_header;
  std::vector<std::vector<std::string>> m_rows;
};

// Display width of a UTF-8 string without ANSI escape sequences.
std::size_t display_width(const std::string& s);

void print_json(const nlohmann::json& j);
// Whether print_json has written a document on stdout in this process.
bool json_printed();
// An error as scripts read it with --json:
// {"error": {"code": "config", "exit_code": 2, "message": "..."}}
// code: usage | config | refused | failure | interrupted | terminated.
nlohmann::json error_json(const Error& e);
void print_line(const std::string& s);

// While alive, print_line and print_json on this thread append to `into`
// instead of stdout: a fleet runs many databases at once and reports them together.
class OutputCapture {
 public:
  explicit OutputCapture(std::string& into);
  ~OutputCapture();
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

 private:
  std::string* m_previous;
};

// Confirmation for a change to `env`: with `yes`, returns at once; on a
// terminal, asks to type the environment's name; otherwise throws Refused
// explaining that --yes is needed. `what` describes the change.
void confirm_or_refuse(const std::string& env, const std::string& what, bool yes);

// ISO-8601 UTC timestamp of now, e.g. 2026-11-26T06:30:58Z.
std::string utc_now_iso();

}  // namespace mgr
