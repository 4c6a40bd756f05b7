// The one translation unit that compiles Asio (and asio::ssl); see DESIGN.md "Build habits".
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
