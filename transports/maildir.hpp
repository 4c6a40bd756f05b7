// Maildir delivery (`maildir:/srv/mail/%u/Maildir`).
//
// deliver_maildir() is called by LocalTransport for one recipient; it expands the
// path, builds the file content (Return-Path, Delivered-To, LF line ends) and has
// the spawner run write_maildir() as the recipient's unix user, so that what it
// creates is owned by that user. write_maildir() runs in the spawner (a worker
// thread of a non-root daemon, or the root helper's per-job process after the
// user switch).
// Invariants: a missing Maildir (and any missing parent), with tmp/ new/ cur/, is
// created mode 0700; the message is written to tmp/ under a unique name
// (SECONDS.M<usec>P<pid>Q<counter>.<host>), fsynced, linked into new/ (rename
// where links are not supported), removed from tmp/, and new/ is fsynced — a
// message appears in new/ complete or not at all, and tmp/ keeps nothing. Every
// failure is temporary (full disk, quota, I/O error, a path that is not a
// directory, a permission problem: the operator fixes it and the retry works).
// A non-empty `folder` (Maildir++, e.g. ".Junk" for mail the spam stage flagged)
// delivers into MAILDIR/FOLDER/, created with its `maildirfolder` marker.
#pragma once

#include <string>
#include <string_view>

#include "transports/spawner.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

struct MaildirWrite {
  bool ok = false;
  int error = 0;  // errno of the failing step
  bool temporary = true;
  std::string text;  // failure: "maildir /x/Maildir: create tmp/NAME: No space left on device"
  std::string name;  // success: the file name in new/
};

// Writes `content` as one message, as the current user.
MaildirWrite write_maildir(const std::string& maildir, const std::string& folder,
                           std::string_view content);

// SECONDS.M<usec>P<pid>Q<counter>.<host> ('/' and ':' in the host name escaped).
std::string maildir_unique_name();

// Delivers to one recipient. `path_template` is the text after "maildir:";
// `folder` is "" or a Maildir++ subfolder such as ".Junk".
RecipientResult deliver_maildir(std::string_view path_template, std::string_view folder,
                                const DeliveryRequest& request, const RecipientRef& rcpt,
                                Spawner& spawner);

}  // namespace mp::transports
