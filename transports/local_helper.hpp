// The root delivery helper behind PrivilegedSpawner (see spawner.hpp).
//
// run_delivery_helper() is the whole life of the helper process that
// PrivilegedSpawner::start() forks while mailprocd is still root. It keeps only
// its control socket (and fds 0-2), ignores SIGINT/SIGTERM/SIGHUP (so the
// daemon's graceful stop can finish in-flight deliveries), and loops: receive a
// job socket, fork a per-job process, close it. It exits when the daemon's end of
// the control socket closes. The loop itself makes only system calls.
// The per-job process, still root, reads and validates the job (decode_job:
// untrusted input), looks the user up, refuses uid 0 and unknown users, switches
// with initgroups + setgid + setuid (verified irreversible), runs the job as that
// user and writes the result back.
#pragma once

namespace mp::transports {

[[noreturn]] void run_delivery_helper(int control_fd);

}  // namespace mp::transports
