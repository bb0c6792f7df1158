// sha256.hpp: the one SHA-256 helper (OpenSSL EVP), one-shot, incremental and over files.
#include "mgr/sha256.hpp"

#include <gtest/gtest.h>

#include <string>

#include "mgr/error.hpp"
#include "support/test_support.hpp"

namespace mgr {
namespace {

using test::TempDir;
using test::write_file;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShotWhateverTheBlocks) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "block " + std::to_string(i) + "\n";
  for (std::size_t step : {1u, 7u, 64u, 4096u, 1u << 20}) {
    Sha256 sha;
    for (std::size_t at = 0; at < text.size(); at += step) sha.update(std::string_view(text).substr(at, step));
    EXPECT_EQ(sha.hex_digest(), sha256_hex(text)) << step;
  }
}

TEST(Sha256, BinaryBytesAreHashedAsBytes) {
  const std::string bytes("a\0b\xff", 4);
  Sha256 sha;
  sha.update(bytes.data(), bytes.size());
  EXPECT_EQ(sha.hex_digest(), sha256_hex(bytes));
  EXPECT_NE(sha256_hex(bytes), sha256_hex("a"));
}

TEST(Sha256, FileHashMatchesItsBytes) {
  TempDir dir;
  std::string big(3 * (1 << 20) + 17, 'x');  // more than one read block
  write_file(dir / "big.bin", big);
  EXPECT_EQ(sha256_file(dir / "big.bin"), sha256_hex(big));
  write_file(dir / "empty", "");
  EXPECT_EQ(sha256_file(dir / "empty"), sha256_hex(""));
}

TEST(Sha256, MissingFileIsAFailureNamingIt) {
  TempDir dir;
  try {
    sha256_file(dir / "nope.dump");
    FAIL() << "no exception";
  } catch (const Failure& e) {
    EXPECT_NE(std::string(e.what()).find("nope.dump"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mgr
