// Preparing the spool when mailprocd (or mpsendmail) starts as root and the
// spool belongs to the unprivileged `user` (SPEC: Programs, "Started as root").
//
// Everything here works on directory descriptors opened with O_NOFOLLOW: the
// spool's owner controls what is inside it and could swap a directory for a
// symbolic link at any moment, so root never resolves a path inside the spool.
// Root creates what is missing (then hands it to the owner with fchown on the
// new directory's descriptor) and never changes the owner of anything that was
// already there. The path up to and including `spooldir` itself is the
// operator's: it is trusted as configured (a link there is followed).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/unique_fd.hpp"
#include "queue/layout.hpp"

namespace mp::queue {

struct SpoolOwner {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Creates the spool root (and missing ancestors, 0755) and opens it. A root
// created now, or owned by root (made by `install -d`, say), is given to the
// owner; one owned by anybody else is an error naming it. Throws
// std::runtime_error / std::system_error naming the path.
UniqueFd prepare_spool_root(const Layout& layout, const SpoolOwner& owner);

// Creates the missing sub-queues and tmp/ (0700, the owner's) below `root_fd`.
// A symbolic link, a non-directory, or a directory not owned by the owner
// where a sub-queue should be is a fatal error naming it.
void prepare_sub_queues(int root_fd, const Layout& layout, const SpoolOwner& owner);

}  // namespace mp::queue
