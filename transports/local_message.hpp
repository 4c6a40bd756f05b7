// What every local delivery (pipe, MDA, maildir) hands over: the message with
// `Return-Path:` and `Delivered-To:` prepended (SPEC "Local delivery") and LF
// line ends, the program environment, and the mail-loop check.
//
// Called by pipe.cpp, mda.cpp and maildir.cpp for each recipient; they also share
// job_not_run() to report a job the spawner refused or could not run.
// Invariants: only CRLF pairs become LF (a lone CR is kept); the added headers
// hold no CR/LF (Address values never do, and they are checked again); the
// Delivered-To address is the recipient as received (RecipientRef::original),
// or the rewritten one when that is empty.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transports/spawner.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

// The Delivered-To address of a recipient.
std::string delivered_to(const RecipientRef& rcpt);

// "Return-Path: <sender>\nDelivered-To: rcpt\n" + the message with LF line ends.
std::string local_message(const DeliveryRequest& request, const RecipientRef& rcpt);

// CRLF -> LF.
std::string to_lf(std::string_view crlf);

// True when the message's header section already has "Delivered-To: address"
// (case-insensitive): delivering again would loop.
bool already_delivered_to(std::string_view message, std::string_view address);

// A permfail (5.4.6, "mail forwarding loop for ...") when delivering to rcpt would
// loop, or when the envelope holds a character unfit for a header; else nullopt.
std::optional<RecipientResult> refuse_before_delivery(const DeliveryRequest& request,
                                                      const RecipientRef& rcpt,
                                                      const std::string& relay);

// SENDER ("" for <>), RECIPIENT, QUEUE_ID: the variables a program gets besides
// PATH, HOME, USER and LOGNAME (added by the spawner).
std::vector<std::string> delivery_env(const DeliveryRequest& request, const RecipientRef& rcpt);

// The result for a job that did not run (JobResult refused, spawner_failed,
// not_started): a permanent refusal bounces (5.3.5), the rest defer (4.3.0).
RecipientResult job_not_run(const JobResult& job, std::string relay);

}  // namespace mp::transports
