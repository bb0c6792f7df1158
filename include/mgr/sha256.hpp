// SHA-256 through OpenSSL's EVP interface, in one place: migration
// checksums, lock keys, schema fingerprints and backup files all use it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace mgr {

// Incremental SHA-256: feed bytes as they arrive (a dump streaming through a
// pipe), then take the digest. Throws Failure when OpenSSL fails.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Lower-case hex of everything fed so far; the object is spent afterwards.
  std::string hex_digest();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> m_ctx;
};

// Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

// Lower-case hex SHA-256 of a file's contents, read in blocks. Throws
// Failure naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace mgr
