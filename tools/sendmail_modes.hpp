// mpsendmail's modes other than "a message on stdin": `-bs` (an SMTP dialogue
// on stdin/stdout, tools/sendmail_smtp.hpp) and the queue modes `-bp` (also
// when run as mailq), `-q`, `-qR<site>`, `-qI<id>`, which run mpqueue as
// Postfix's sendmail runs postqueue.
//
// Called by tools/mpsendmail_main.cpp. Return values are exit statuses.
#pragma once

#include "common/config.hpp"
#include "tools/sendmail_queue.hpp"
#include "tools/submission.hpp"

namespace mp::submission {

// Replaces this process with the mpqueue installed beside it (-bp: mpqueue -p;
// -q: mpqueue flush; -qR: flush --domain; -qI: flush ID). Returns only on failure.
int run_mpqueue(const Options& options);

// `-bs`: the dialogue until QUIT or the end of input; each message is
// queued with `queuer` as the invoking user's (headers added as for stdin).
int run_smtp(const Config& config, Queuer& queuer);

}  // namespace mp::submission
