#include "kargo/upstream/address_policy.hpp"

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <initializer_list>

namespace kargo::upstream {
namespace {

namespace ip = boost::asio::ip;

// Whether the top `bits` bits of `address` equal those of `prefix`.
constexpr bool in_v4(uint32_t address, uint32_t prefix, unsigned bits) {
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (address & mask) == (prefix & mask);
}

constexpr uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return a << 24 | b << 16 | c << 8 | d;
}

AddressClass classify_v4(uint32_t a) {
  if (in_v4(a, v4(0, 0, 0, 0), 8)) return AddressClass::kUnspecified;  // "this network" (RFC 1122)
  if (in_v4(a, v4(127, 0, 0, 0), 8)) return AddressClass::kLoopback;
  if (in_v4(a, v4(169, 254, 0, 0), 16)) return AddressClass::kLinkLocal;  // incl. 169.254.169.254
  if (in_v4(a, v4(10, 0, 0, 0), 8)) return AddressClass::kPrivate;        // RFC 1918
  if (in_v4(a, v4(172, 16, 0, 0), 12)) return AddressClass::kPrivate;     // RFC 1918
  if (in_v4(a, v4(192, 168, 0, 0), 16)) return AddressClass::kPrivate;    // RFC 1918
  if (in_v4(a, v4(100, 64, 0, 0), 10)) return AddressClass::kPrivate;     // carrier-grade NAT (RFC 6598)
  if (in_v4(a, v4(224, 0, 0, 0), 4)) return AddressClass::kMulticast;
  // Never a public server, and some of it is routed inside provider or lab networks:
  if (in_v4(a, v4(192, 0, 0, 0), 24)) return AddressClass::kReserved;  // IETF protocol assignments (RFC 6890)
  if (in_v4(a, v4(192, 0, 2, 0), 24)) return AddressClass::kReserved;  // TEST-NET-1 (RFC 5737)
  if (in_v4(a, v4(198, 51, 100, 0), 24)) return AddressClass::kReserved;  // TEST-NET-2
  if (in_v4(a, v4(203, 0, 113, 0), 24)) return AddressClass::kReserved;   // TEST-NET-3
  if (in_v4(a, v4(192, 88, 99, 0), 24)) return AddressClass::kReserved;   // 6to4 relay anycast (RFC 7526)
  if (in_v4(a, v4(198, 18, 0, 0), 15)) return AddressClass::kReserved;    // benchmarking (RFC 2544)
  // Future use (RFC 1112), and 255.255.255.255, the limited broadcast address.
  if (in_v4(a, v4(240, 0, 0, 0), 4)) return AddressClass::kReserved;
  return AddressClass::kPublic;
}

using V6 = std::array<unsigned char, 16>;

// Whether the top `bits` bits of `address` equal `prefix` (its bytes given high first).
bool in_v6(const V6& address, std::initializer_list<unsigned> prefix, unsigned bits) {
  V6 p{};
  unsigned i = 0;
  for (unsigned byte : prefix) p[i++] = static_cast<unsigned char>(byte);
  for (unsigned b = 0; b < bits; ++b) {
    unsigned mask = 0x80u >> (b % 8);
    if ((address[b / 8] & mask) != (p[b / 8] & mask)) return false;
  }
  return true;
}

uint32_t v4_at(const V6& a, unsigned offset) {
  return uint32_t{a[offset]} << 24 | uint32_t{a[offset + 1]} << 16 | uint32_t{a[offset + 2]} << 8 |
         uint32_t{a[offset + 3]};
}

AddressClass classify_v6(const ip::address_v6& address) {
  V6 a = address.to_bytes();
  if (address.is_unspecified()) return AddressClass::kUnspecified;
  if (address.is_loopback()) return AddressClass::kLoopback;
  // Forms that carry an IPv4 address, which a host or a translator may connect to instead:
  // mapped ::ffff:0:0/96, compatible ::/96 (deprecated), SIIT ::ffff:0:0:0/96 (RFC 2765),
  // NAT64 64:ff9b::/96 (RFC 6052), 6to4 2002::/16 (RFC 3056).
  if (in_v6(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96)) return classify_v4(v4_at(a, 12));
  if (in_v6(a, {}, 96)) return classify_v4(v4_at(a, 12));
  if (in_v6(a, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96)) return classify_v4(v4_at(a, 12));
  if (in_v6(a, {0, 0x64, 0xff, 0x9b}, 96)) return classify_v4(v4_at(a, 12));
  if (in_v6(a, {0x20, 0x02}, 16)) return classify_v4(v4_at(a, 2));
  if (in_v6(a, {0, 0x64, 0xff, 0x9b, 0, 1}, 48)) return AddressClass::kPrivate;  // local NAT64 (RFC 8215)
  if (in_v6(a, {0xfe, 0x80}, 10)) return AddressClass::kLinkLocal;
  if (in_v6(a, {0xfc}, 7)) return AddressClass::kPrivate;         // unique local
  if (in_v6(a, {0xfe, 0xc0}, 10)) return AddressClass::kPrivate;  // site-local (deprecated, RFC 3879)
  if (in_v6(a, {0xff}, 8)) return AddressClass::kMulticast;
  if (in_v6(a, {0x01, 0x00}, 64)) return AddressClass::kReserved;                 // discard-only (RFC 6666)
  if (in_v6(a, {0x20, 0x01, 0, 0}, 32)) return AddressClass::kReserved;           // Teredo (RFC 4380)
  if (in_v6(a, {0x20, 0x01, 0, 0x02, 0, 0}, 48)) return AddressClass::kReserved;  // benchmarking (RFC 5180)
  if (in_v6(a, {0x20, 0x01, 0x0d, 0xb8}, 32)) return AddressClass::kReserved;     // documentation (RFC 3849)
  if (in_v6(a, {0x3f, 0xff}, 20)) return AddressClass::kReserved;                 // documentation (RFC 9637)
  // Global unicast is 2000::/3 (RFC 4291); the rest is unassigned or special.
  if (!in_v6(a, {0x20}, 3)) return AddressClass::kReserved;
  return AddressClass::kPublic;
}

}  // namespace

std::optional<AddressClass> classify_address(std::string_view text) {
  boost::system::error_code ec;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    auto address = ip::make_address_v6(std::string(text.substr(1, text.size() - 2)), ec);
    if (ec) return std::nullopt;
    return classify_v6(address);
  }
  auto address = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (address.is_v4()) return classify_v4(address.to_v4().to_uint());
  return classify_v6(address.to_v6());
}

std::string_view to_string(AddressClass address_class) {
  switch (address_class) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kReserved:
      return "reserved";
  }
  return "reserved";
}

std::optional<std::string> refused_address(std::string_view ip, bool allow_private) {
  auto address_class = classify_address(ip);
  if (!address_class) {
    // Shortened: the text may come from anywhere and ends up in a log line.
    return std::string(ip.substr(0, 64)) + " is not an IP address";
  }
  if (*address_class == AddressClass::kPublic) return std::nullopt;
  if (allow_private && *address_class != AddressClass::kLinkLocal) return std::nullopt;
  auto name = to_string(*address_class);
  std::string article = name == "unspecified" ? "an " : "a ";
  return std::string(ip) + " is " + article + std::string(name) + " address";
}

}  // namespace kargo::upstream
