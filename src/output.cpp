#include "mgr/output.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "mgr/error.hpp"

namespace mgr {

std::size_t display_width(const std::string& s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b) {  // skip CSI ... m
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string TextTable::render(const Style& /*style*/) const {
  std::vector<std::size_t> widths(m_header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  };
  measure(m_header);
  for (const auto& r : m_rows) measure(r);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - display_width(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(m_header);
  std::vector<std::string> rule;
  for (auto w : widths) rule.push_back(std::string(w, '-'));
  emit(rule);
  for (const auto& r : m_rows) emit(r);
  return out;
}

namespace {
bool g_json_printed = false;
}  // namespace

bool json_printed() { return g_json_printed; }

nlohmann::json error_json(const Error& e) {
  const char* code = "failure";
  switch (e.code()) {
    case ExitCode::usage: code = dynamic_cast<const ConfigError*>(&e) != nullptr ? "config" : "usage"; break;
    case ExitCode::refused: code = "refused"; break;
    case ExitCode::interrupted: code = "interrupted"; break;
    case ExitCode::terminated: code = "terminated"; break;
    case ExitCode::ok:
    case ExitCode::failure: break;
  }
  return {{"error", {{"code", code}, {"exit_code", static_cast<int>(e.code())}, {"message", e.what()}}}};
}

namespace {
thread_local std::string* t_capture = nullptr;
}  // namespace

OutputCapture::OutputCapture(std::string& into) : m_previous(t_capture) { t_capture = &into; }
OutputCapture::~OutputCapture() { t_capture = m_previous; }

void print_json(const nlohmann::json& j) {
  if (t_capture != nullptr) {
    *t_capture += j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return;
  }
  g_json_printed = true;
  // Invalid UTF-8 from the database must not abort output.
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  std::cout.flush();
}

void print_line(const std::string& s) {
  if (t_capture != nullptr) {
    *t_capture += s + "\n";
    return;
  }
  std::cout << s << "\n";
  std::cout.flush();
}

void confirm_or_refuse(const std::string& env, const std::string& what, bool yes) {
  if (yes) return;
  if (!::isatty(STDIN_FILENO)) {
    throw Refused(what + "\nThat needs confirmation and there is no terminal to ask on: pass --yes to confirm for '" +
                  env + "'. Nothing was changed.");
  }
  std::cerr << what << "\nType the environment name (" << env << ") to continue: " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer) || answer != env) {
    throw Refused("not confirmed (expected '" + env + "'); nothing was changed");
  }
}

std::string utc_now_iso() {
  // fmt::gmtime, not the time_point itself: fmt 9 formats time_points in local time.
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::now()));
}

}  // namespace mgr
