// FakeResolver — a scripted transports::Resolver for unit tests (the MX plan,
// the MX delivery). Answers are set per name (case-insensitive, a trailing dot
// ignored); a name with no script answers nxdomain. Every call is recorded
// ("MX example.org", "ADDR mx1.example.org") in order.
//
// By default callbacks run at once, on the caller's thread. With
// set_deferred(true) they are queued instead and run by run_pending(), so a
// test can check what happens while lookups are outstanding. Thread safe.
#pragma once

#include <cctype>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "transports/resolver.hpp"

namespace mp::transports::testing {

class FakeResolver : public Resolver {
 public:
  // Scripts.
  void set_mx(const std::string& name, MxAnswer answer) {
    std::lock_guard lock(mutex_);
    mx_[key(name)] = std::move(answer);
  }
  void set_mx(const std::string& name, std::vector<MxRecord> records) {
    MxAnswer a;
    a.status = DnsStatus::ok;
    a.records = std::move(records);
    set_mx(name, std::move(a));
  }
  void set_addresses(const std::string& name, AddressAnswer answer) {
    std::lock_guard lock(mutex_);
    addresses_[key(name)] = std::move(answer);
  }
  void set_addresses(const std::string& name, std::vector<std::string> addresses) {
    AddressAnswer a;
    a.status = DnsStatus::ok;
    a.addresses = std::move(addresses);
    set_addresses(name, std::move(a));
  }
  // Shorthands for an outcome without data: nxdomain, nodata or tempfail (with `error`).
  static MxAnswer mx_status(DnsStatus status, std::string error = {}) {
    MxAnswer a;
    a.status = status;
    a.error = std::move(error);
    return a;
  }
  static AddressAnswer address_status(DnsStatus status, std::string error = {}) {
    AddressAnswer a;
    a.status = status;
    a.error = std::move(error);
    return a;
  }

  void set_deferred(bool deferred) {
    std::lock_guard lock(mutex_);
    deferred_ = deferred;
  }
  // Runs the queued callbacks (deferred mode) in call order; returns how many ran.
  std::size_t run_pending() {
    std::vector<std::function<void()>> jobs;
    {
      std::lock_guard lock(mutex_);
      jobs.swap(pending_);
    }
    for (auto& job : jobs) job();
    return jobs.size();
  }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  void clear_calls() {
    std::lock_guard lock(mutex_);
    calls_.clear();
  }

  void resolve_mx(const std::string& domain, std::function<void(MxAnswer)> done) override {
    MxAnswer answer;
    answer.status = DnsStatus::nxdomain;
    bool deferred = false;
    {
      std::lock_guard lock(mutex_);
      calls_.push_back("MX " + domain);
      if (auto it = mx_.find(key(domain)); it != mx_.end()) answer = it->second;
      deferred = deferred_;
      if (deferred)
        pending_.push_back([done = std::move(done), answer]() mutable { done(std::move(answer)); });
    }
    if (!deferred) done(std::move(answer));
  }

  void resolve_addresses(const std::string& host,
                         std::function<void(AddressAnswer)> done) override {
    AddressAnswer answer;
    answer.status = DnsStatus::nxdomain;
    bool deferred = false;
    {
      std::lock_guard lock(mutex_);
      calls_.push_back("ADDR " + host);
      if (auto it = addresses_.find(key(host)); it != addresses_.end()) answer = it->second;
      deferred = deferred_;
      if (deferred)
        pending_.push_back([done = std::move(done), answer]() mutable { done(std::move(answer)); });
    }
    if (!deferred) done(std::move(answer));
  }

 private:
  static std::string key(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  }

  mutable std::mutex mutex_;
  std::map<std::string, MxAnswer> mx_;
  std::map<std::string, AddressAnswer> addresses_;
  std::vector<std::string> calls_;
  bool deferred_ = false;
  std::vector<std::function<void()>> pending_;
};

}  // namespace mp::transports::testing
