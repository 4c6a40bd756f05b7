#include "tools/transports.hpp"

namespace mp {

struct Transports::Impl {};

Transports::Transports(asio::io_context&, const Config&, bool) : impl_(std::make_unique<Impl>()) {}
Transports::~Transports() = default;

transports::Transport* Transports::select(const rewrite::NextHop&) { return nullptr; }

}  // namespace mp
