#pragma once
// Which IP addresses an outbound call may reach: the guard against server-side request forgery
// for calls to URLs that users give us (webhooks). It judges IP literals only; host names are
// resolved by HttpClient, which passes every resolved address to OutboundRequest::refuse_address.
//
// Link-local addresses (169.254.0.0/16 with the cloud metadata service, fe80::/10) are always
// refused. Loopback, private, unspecified, multicast, broadcast and reserved ranges are refused
// unless allow_private is set (a test or on-premise setup whose receivers are internal).
// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4
// (2002:aabb:ccdd::) addresses are judged as the IPv4 address they carry.
//
//   client.send({.method = "POST", .url = webhook_url, .body = payload,
//                .refuse_address = [](std::string_view ip) { return refused_address(ip, false); }},
//               done);

#include <optional>
#include <string>
#include <string_view>

namespace kargo::upstream {

enum class AddressClass { kPublic, kLoopback, kPrivate, kLinkLocal, kUnspecified, kMulticast, kReserved };

// nullopt when `ip` is not an IPv4 or IPv6 literal (a name, "", "1.2.3"). IPv6 may be written
// with or without brackets ("[::1]", "::1"), with a zone ("fe80::1%eth0").
std::optional<AddressClass> classify_address(std::string_view ip);

// "public", "loopback", "private", "link-local", "unspecified", "multicast", "reserved".
std::string_view to_string(AddressClass address_class);

// nullopt when a call may connect to `ip`, else why not ("127.0.0.1 is a loopback address").
// What is not an IP literal is refused too ("localhost is not an IP address"): by the time an
// address is checked, names have been resolved.
std::optional<std::string> refused_address(std::string_view ip, bool allow_private);

}  // namespace kargo::upstream
