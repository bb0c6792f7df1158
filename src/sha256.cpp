#include "mgr/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "mgr/error.hpp"
#include "mgr/fd.hpp"

namespace mgr {

void Sha256::Free::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new()) {
  if (!m_ctx || EVP_DigestInit_ex(m_ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Failure("SHA-256 computation failed (OpenSSL EVP_DigestInit_ex)");
  }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, std::size_t size) {
  if (!m_ctx || EVP_DigestUpdate(m_ctx.get(), data, size) != 1) {
    throw Failure("SHA-256 computation failed (OpenSSL EVP_DigestUpdate)");
  }
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!m_ctx || EVP_DigestFinal_ex(m_ctx.get(), digest, &len) != 1) {
    throw Failure("SHA-256 computation failed (OpenSSL EVP_DigestFinal_ex)");
  }
  m_ctx.reset();
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(len) * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = k_hex[digest[i] >> 4];
    out[2 * i + 1] = k_hex[digest[i] & 0x0F];
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 sha;
  sha.update(bytes);
  return sha.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Failure(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Failure(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    sha.update(buf.data(), static_cast<std::size_t>(n));
  }
  return sha.hex_digest();
}

}  // namespace mgr
