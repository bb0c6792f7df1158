// ANSI styling that turns itself off when colour is off: plain string
// wrapping, so pure code (drift's diff) can colour text it returns without
// knowing about the terminal.
#pragma once

#include <string>

namespace mgr {

class Style {
 public:
  explicit Style(bool color) : m_color(color) {}
  std::string green(const std::string& s) const { return wrap("32", s); }
  std::string red(const std::string& s) const { return wrap("31", s); }
  std::string yellow(const std::string& s) const { return wrap("33", s); }
  std::string bold(const std::string& s) const { return wrap("1", s); }
  std::string dim(const std::string& s) const { return wrap("2", s); }
  bool color() const { return m_color; }

 private:
  std::string wrap(const char* code, const std::string& s) const {
    return m_color ? "\x1b[" + std::string(code) + "m" + s + "\x1b[0m" : s;
  }
  bool m_color;
};

}  // namespace mgr
