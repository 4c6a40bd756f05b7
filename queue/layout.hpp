// The spool layout: SPOOLDIR/{tmp,incoming,active,deferred,hold,archive,corrupt}.
// tmp/ holds only uncommitted files and is purged at start; every other
// sub-queue holds only complete, fsynced queue files named by queue ID.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mp::queue {

enum class SubQueue { incoming, active, deferred, hold, archive, corrupt };
inline constexpr std::array<SubQueue, 6> all_sub_queues{SubQueue::incoming, SubQueue::active,
                                                        SubQueue::deferred, SubQueue::hold,
                                                        SubQueue::archive,  SubQueue::corrupt};
std::string_view name(SubQueue q);                               // "incoming", "active", ...
std::optional<SubQueue> parse_sub_queue(std::string_view name);  // inverse of name()

// Creates `dir` and its missing ancestors (those with mode 0755) and fsyncs
// every new entry. Throws std::system_error naming the path (also when a path
// on the way is not a directory).
void create_directories_durably(const std::filesystem::path& dir, unsigned mode);

class Layout {
 public:
  explicit Layout(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path tmp() const { return root_ / "tmp"; }
  std::filesystem::path dir(SubQueue q) const;
  std::filesystem::path file(SubQueue q, std::string_view id) const {
    return dir(q) / std::string(id);
  }

  // Creates the root and every sub-queue (mode 0700) and fsyncs the new entries.
  // Missing ancestors of the root are created too (mode 0755). Existing
  // directories are left as they are (owner and mode included).
  // Throws std::system_error naming the path on failure (also when a sub-queue
  // path exists but is not a directory).
  void create() const;
  // Removes everything in tmp/ (left by a crash before commit). Returns how many.
  // Call only while no Writer uses this spool (at start-up). A missing tmp/ is 0.
  // Works on descriptors and never follows a link (tmp/ itself a link: error).
  std::size_t purge_tmp() const;

 private:
  std::filesystem::path root_;
};

}  // namespace mp::queue
