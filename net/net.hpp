// The network layer's public API in one include: std types only, no Beast or
// Asio, so actors and tests compile it cheaply. See each header for its
// threading contract.
#pragma once

#include "net/connection.hpp"
#include "net/dial.hpp"
#include "net/http.hpp"
#include "net/http_client.hpp"
#include "net/listener.hpp"
#include "net/runtime.hpp"
#include "net/settings.hpp"
