#include "common/atomic_file.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace mp {
namespace {

[[noreturn]] void fail(const char* what, const std::filesystem::path& p) {
  throw std::system_error(errno, std::generic_category(), std::string(what) + " " + p.string());
}

using Fd = mp::UniqueFd;

void write_all(int fd, std::string_view data, const std::filesystem::path& p) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", p);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void close_checked(Fd& fd, const std::filesystem::path& p) {
  if (::close(fd.release()) != 0) fail("close", p);
}

}  // namespace

void fsync_dir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) fail("open", dir);
  if (::fsync(fd.get()) != 0) fail("fsync", dir);
}

void write_file_synced(const std::filesystem::path& tmp, std::string_view data) {
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) fail("create", tmp);
  try {
    write_all(fd.get(), data, tmp);
    if (::fdatasync(fd.get()) != 0) fail("fsync", tmp);
    close_checked(fd, tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

void rename_durable(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail("rename to", to);
  fsync_dir(to.parent_path());
  if (from.parent_path() != to.parent_path()) fsync_dir(from.parent_path());
}

void write_file_atomic(const std::filesystem::path& tmp, const std::filesystem::path& target,
                       std::string_view data) {
  write_file_synced(tmp, data);
  try {
    if (::rename(tmp.c_str(), target.c_str()) != 0) fail("rename to", target);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(target.parent_path());
}

void append_synced(const std::filesystem::path& file, std::string_view data) {
  Fd fd(::open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (fd.get() < 0) fail("open", file);
  write_all(fd.get(), data, file);
  if (::fdatasync(fd.get()) != 0) fail("fsync", file);
  close_checked(fd, file);
}

}  // namespace mp
