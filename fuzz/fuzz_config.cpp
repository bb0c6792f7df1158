// The config loader on arbitrary bytes: YAML, interpolation, URLs, durations,
// promotion checks. Any exception but mgr's own errors is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mgr/config.hpp"
#include "mgr/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  static const mgr::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DEV_DATABASE_URL") return "postgresql://app:Secr3t@127.0.0.1:5432/app_dev";
    if (name == "EMPTY") return "";
    if (name == "WAIT") return "30s";
    return std::nullopt;
  };
  try {
    const auto config = mgr::parse_config(text, "/fuzz/config/environments.yaml", env);
    for (const auto& e : config.environments) {
      if (!e.url.resolved()) continue;
      (void)e.url.redacted();
      (void)e.url.conninfo_without_password();
      (void)mgr::redact_secrets(text, e.url);
    }
    (void)config.history_table.quoted();
  } catch (const mgr::Error&) {
  }
  return 0;
}
