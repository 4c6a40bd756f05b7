// The only durability code: how a complete file enters a directory.
//
//   write to a temporary name → fsync the file → rename to the final name →
//   fsync the directory (so the new entry survives a crash).
//
// After write_file_atomic() returns, a crash at any moment leaves either the
// old state or the complete new file under `target`, never a partial one.
// Every function throws std::system_error naming the path on failure.
#pragma once

#include <filesystem>
#include <string_view>

namespace mp {

// Writes `data` to `tmp`, fsyncs, renames to `target`, fsyncs target's directory.
void write_file_atomic(const std::filesystem::path& tmp, const std::filesystem::path& target,
                       std::string_view data);

// Writes and fsyncs `tmp` (created exclusively, mode 0600) without renaming it.
void write_file_synced(const std::filesystem::path& tmp, std::string_view data);

// rename() + fsync of the target directory (and of the source directory when it differs).
void rename_durable(const std::filesystem::path& from, const std::filesystem::path& to);

// fsync of a directory, making renames and creations inside it durable.
void fsync_dir(const std::filesystem::path& dir);

// Appends `data` to an existing file and fdatasyncs it (queue file records).
void append_synced(const std::filesystem::path& file, std::string_view data);

}  // namespace mp
