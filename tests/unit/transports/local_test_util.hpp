// Helpers for the local-delivery unit tests: a scratch directory that `nobody`
// can traverse (the tests run as root in CI, where deliveries run as nobody),
// executable test scripts, requests, and the spawner that fits the current user.
#pragma once

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "transports/spawner.hpp"
#include "transports/transport.hpp"

namespace mp::transports::testing {

inline bool is_root() {
  return ::geteuid() == 0;
}

inline uid_t uid_of(const std::string& user) {
  passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("no user " + user);
  return pw->pw_uid;
}

inline gid_t gid_of(const std::string& user) {
  passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("no user " + user);
  return pw->pw_gid;
}

// The user deliveries run as in these tests: `nobody` as root, else ourselves.
inline uid_t delivery_uid() {
  return is_root() ? uid_of("nobody") : ::geteuid();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mp-local-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    ::chmod(path_.c_str(), 0755);  // traversable by nobody
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

  // A subdirectory the delivery user may write to (owned by nobody when root).
  std::filesystem::path writable(const std::string& name) const {
    auto p = path_ / name;
    std::filesystem::create_directories(p);
    ::chmod(p.c_str(), 0755);
    if (is_root() && ::chown(p.c_str(), uid_of("nobody"), gid_of("nobody")) != 0)
      throw std::runtime_error("chown failed");
    return p;
  }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void spit(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// Writes an executable /bin/sh script (mode 0755) and returns its path.
inline std::string script(const std::filesystem::path& dir, const std::string& name,
                          const std::string& body) {
  auto p = dir / name;
  spit(p, "#!/bin/sh\n" + body);
  ::chmod(p.c_str(), 0755);
  return p.string();
}

// Root: the privileged helper (deliveries really run as their user); else direct.
inline std::shared_ptr<Spawner> test_spawner() {
  if (is_root()) return PrivilegedSpawner::start();
  return std::make_shared<DirectSpawner>();
}

inline Address addr(std::string local, std::string domain) {
  return Address{std::move(local), std::move(domain)};
}

inline DeliveryRequest request(std::string next_hop, Address rcpt, std::string unix_user,
                               std::string message = "Subject: hi\r\n\r\nbody line\r\n") {
  DeliveryRequest req;
  req.queue_id = "4XyZq1";
  req.sender = addr("alice", "example.net");
  RecipientRef r;
  r.address = rcpt;
  r.original = rcpt;
  r.unix_user = std::move(unix_user);
  req.recipients.push_back(r);
  req.next_hop = std::move(next_hop);
  req.message = std::make_shared<const std::string>(std::move(message));
  return req;
}

}  // namespace mp::transports::testing
