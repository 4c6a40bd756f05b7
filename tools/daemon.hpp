// mailprocd's run mode: assembles spool, writer, listeners (and, from the next
// parts on, the queue manager) on one io_context, drops privileges, handles
// signals. Returns the process exit status.
#pragma once

#include "common/config.hpp"

namespace mp {

int run_daemon(const Config& config);

}  // namespace mp
