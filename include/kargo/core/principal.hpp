#pragma once
// Roles and the authenticated caller (contract section 2, "Authentication and roles").
#include <optional>
#include <string>
#include <string_view>

namespace kargo {

// Ordered: a higher role may do everything a lower one may.
enum class Role { kNone = 0, kViewer = 1, kEditor = 2, kAdmin = 3 };
std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view s);

// Usernames: 1-64 characters of letters, digits, '.', '_', '-', '@' (the users table checks
// the same). Shared by the API, the CLI and the ADMIN_USERNAME setting.
bool valid_username(std::string_view name);
inline constexpr const char* kUsernameRule = "must be 1-64 characters of letters, digits, '.', '_', '-', '@'";

struct Principal {
  std::string subject;  // username
  Role role = Role::kNone;
};

}  // namespace kargo
