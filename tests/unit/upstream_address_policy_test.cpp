#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "kargo/upstream/address_policy.hpp"

using namespace kargo::upstream;

namespace {

struct Case {
  std::string ip;
  AddressClass expected;
};

const std::vector<Case> kCases = {
    // IPv4
    {"8.8.8.8", AddressClass::kPublic},
    {"93.184.216.34", AddressClass::kPublic},
    {"9.255.255.255", AddressClass::kPublic},
    {"11.0.0.0", AddressClass::kPublic},
    {"100.63.255.255", AddressClass::kPublic},
    {"100.128.0.0", AddressClass::kPublic},
    {"169.253.255.255", AddressClass::kPublic},
    {"172.15.255.255", AddressClass::kPublic},
    {"172.32.0.0", AddressClass::kPublic},
    {"192.0.1.1", AddressClass::kPublic},
    {"198.17.255.255", AddressClass::kPublic},
    {"198.20.0.0", AddressClass::kPublic},
    {"223.255.255.255", AddressClass::kPublic},
    {"127.0.0.1", AddressClass::kLoopback},
    {"127.255.255.254", AddressClass::kLoopback},
    {"10.0.0.1", AddressClass::kPrivate},
    {"10.255.255.255", AddressClass::kPrivate},
    {"172.16.0.1", AddressClass::kPrivate},
    {"172.31.255.255", AddressClass::kPrivate},
    {"192.168.1.1", AddressClass::kPrivate},
    {"100.64.0.1", AddressClass::kPrivate},
    {"100.127.255.255", AddressClass::kPrivate},
    {"169.254.169.254", AddressClass::kLinkLocal},
    {"169.254.0.1", AddressClass::kLinkLocal},
    {"0.0.0.0", AddressClass::kUnspecified},
    {"0.1.2.3", AddressClass::kUnspecified},
    {"224.0.0.1", AddressClass::kMulticast},
    {"239.255.255.250", AddressClass::kMulticast},
    {"255.255.255.255", AddressClass::kReserved},
    {"240.0.0.1", AddressClass::kReserved},
    {"192.0.0.170", AddressClass::kReserved},
    {"192.0.2.1", AddressClass::kReserved},
    {"198.51.100.7", AddressClass::kReserved},
    {"203.0.113.9", AddressClass::kReserved},
    {"198.18.0.1", AddressClass::kReserved},
    {"198.19.255.255", AddressClass::kReserved},
    {"192.88.99.1", AddressClass::kReserved},
    // IPv6, with and without brackets
    {"2606:4700:4700::1111", AddressClass::kPublic},
    {"2001:4860:4860::8888", AddressClass::kPublic},
    {"[2a00:1450:4001::200e]", AddressClass::kPublic},
    {"::1", AddressClass::kLoopback},
    {"[::1]", AddressClass::kLoopback},
    {"0:0:0:0:0:0:0:1", AddressClass::kLoopback},
    {"::", AddressClass::kUnspecified},
    {"[::]", AddressClass::kUnspecified},
    {"fe80::1", AddressClass::kLinkLocal},
    {"[fe80::1]", AddressClass::kLinkLocal},
    {"fe80::1%1", AddressClass::kLinkLocal},
    {"FEBF::1", AddressClass::kLinkLocal},
    {"fc00::1", AddressClass::kPrivate},
    {"fd12:3456:789a::1", AddressClass::kPrivate},
    {"fec0::1", AddressClass::kPrivate},
    {"64:ff9b:1::a00:1", AddressClass::kPrivate},
    {"ff02::1", AddressClass::kMulticast},
    {"[ff05::1:3]", AddressClass::kMulticast},
    {"2001:db8::1", AddressClass::kReserved},
    {"3fff::1", AddressClass::kReserved},
    {"100::1", AddressClass::kReserved},
    {"2001::1", AddressClass::kReserved},
    {"2001:2::1", AddressClass::kReserved},
    {"4000::1", AddressClass::kReserved},
    // IPv6 forms that carry an IPv4 address are judged as that address
    {"::ffff:127.0.0.1", AddressClass::kLoopback},
    {"::ffff:7f00:1", AddressClass::kLoopback},
    {"[::ffff:169.254.169.254]", AddressClass::kLinkLocal},
    {"::ffff:10.1.2.3", AddressClass::kPrivate},
    {"::ffff:0.0.0.0", AddressClass::kUnspecified},
    {"::ffff:224.0.0.1", AddressClass::kMulticast},
    {"::ffff:255.255.255.255", AddressClass::kReserved},
    {"::ffff:8.8.8.8", AddressClass::kPublic},
    {"::127.0.0.1", AddressClass::kLoopback},
    {"::169.254.169.254", AddressClass::kLinkLocal},
    {"::8.8.8.8", AddressClass::kPublic},
    {"::ffff:0:127.0.0.1", AddressClass::kLoopback},
    {"64:ff9b::127.0.0.1", AddressClass::kLoopback},
    {"64:ff9b::8.8.8.8", AddressClass::kPublic},
    {"2002:7f00:1::", AddressClass::kLoopback},
    {"2002:a9fe:a9fe::1", AddressClass::kLinkLocal},
    {"2002:c0a8:101::1", AddressClass::kPrivate},
    {"2002:808:808::1", AddressClass::kPublic},
};

}  // namespace

TEST(AddressPolicy, ClassifiesEveryRangeOfBothFamilies) {
  for (const auto& c : kCases) {
    auto got = classify_address(c.ip);
    ASSERT_TRUE(got) << c.ip;
    EXPECT_EQ(to_string(*got), to_string(c.expected)) << c.ip;
  }
}

TEST(AddressPolicy, WhatIsNotAnIpLiteralIsNotAnAddress) {
  for (const char* text : {"localhost",    "",
                           "1.2.3",        "::ffff:999.1.1.1",
                           "example.com",  "1.2.3.4.5",
                           "1.2.3.256",    "0177.0.0.1",
                           "0x7f.0.0.1",   "2130706433",
                           " 127.0.0.1",   "127.0.0.1 ",
                           "[127.0.0.1]",  "[::1",
                           "::1]",         "[]",
                           "::1::",        "http://127.0.0.1/",
                           "127.0.0.1:80", "[::1]:80"}) {
    EXPECT_FALSE(classify_address(text)) << '"' << text << '"';
    EXPECT_EQ(refused_address(text, true), std::string(text) + " is not an IP address") << text;
  }
}

TEST(AddressPolicy, RefusesEveryNonPublicClassUnlessPrivateIsAllowed) {
  for (const auto& c : kCases) {
    auto strict = refused_address(c.ip, false);
    auto lenient = refused_address(c.ip, true);
    if (c.expected == AddressClass::kPublic) {
      EXPECT_FALSE(strict) << c.ip;
      EXPECT_FALSE(lenient) << c.ip;
    } else {
      EXPECT_TRUE(strict) << c.ip;
      EXPECT_EQ(lenient.has_value(), c.expected == AddressClass::kLinkLocal) << c.ip;
    }
  }
}

TEST(AddressPolicy, LinkLocalIsRefusedEvenWhenPrivateIsAllowed) {
  EXPECT_EQ(refused_address("169.254.169.254", true), "169.254.169.254 is a link-local address");
  EXPECT_EQ(refused_address("fe80::1", true), "fe80::1 is a link-local address");
  EXPECT_EQ(refused_address("::ffff:169.254.169.254", true),
            "::ffff:169.254.169.254 is a link-local address");
  EXPECT_FALSE(refused_address("127.0.0.1", true));
  EXPECT_FALSE(refused_address("10.0.0.1", true));
}

TEST(AddressPolicy, ReasonNamesTheAddressAndItsClass) {
  EXPECT_EQ(refused_address("127.0.0.1", false), "127.0.0.1 is a loopback address");
  EXPECT_EQ(refused_address("[::1]", false), "[::1] is a loopback address");
  EXPECT_EQ(refused_address("192.168.0.10", false), "192.168.0.10 is a private address");
  EXPECT_EQ(refused_address("0.0.0.0", false), "0.0.0.0 is an unspecified address");
  EXPECT_EQ(refused_address("ff02::1", false), "ff02::1 is a multicast address");
  EXPECT_EQ(refused_address("255.255.255.255", false), "255.255.255.255 is a reserved address");
  EXPECT_EQ(refused_address(std::string(100, 'a'), false), std::string(64, 'a') + " is not an IP address");
}

TEST(AddressPolicy, ClassNames) {
  EXPECT_EQ(to_string(AddressClass::kPublic), "public");
  EXPECT_EQ(to_string(AddressClass::kLoopback), "loopback");
  EXPECT_EQ(to_string(AddressClass::kPrivate), "private");
  EXPECT_EQ(to_string(AddressClass::kLinkLocal), "link-local");
  EXPECT_EQ(to_string(AddressClass::kUnspecified), "unspecified");
  EXPECT_EQ(to_string(AddressClass::kMulticast), "multicast");
  EXPECT_EQ(to_string(AddressClass::kReserved), "reserved");
}
