// Running unprivileged: when mailprocd starts as root it binds its listeners,
// opens its log, prepares the spool, then becomes `user` for good (SPEC: user).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace mp {

struct UnixUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::filesystem::path home;
};

// Looks a user up; throws std::runtime_error("unknown user 'x'") when absent.
UnixUser lookup_user(const std::string& name);

bool running_as_root();

// Root working in a directory it does not own (the spool) first becomes that
// directory's owner for good, so it can read and write only what that user
// could: nothing a link inside could point at. A no-op when not root or when
// root owns the directory. False, with `why`, when it cannot.
bool become_owner_of(const std::filesystem::path& dir, std::string& why);

// setgroups/setgid/setuid to the user, irrevocably; throws when any step fails
// or when root could be regained afterwards.
void drop_privileges(const UnixUser& user);

}  // namespace mp
