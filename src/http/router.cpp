#include "kargo/http/router.hpp"

#include <stdexcept>

namespace kargo::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

// Score of a template against a path: -1 no match, else number of literal segments matched.
int score(const Route& r, const std::vector<std::string_view>& parts) {
  if (r.segments.size() != parts.size()) return -1;
  int literal = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (is_param(r.segments[i])) continue;
    if (r.segments[i] != parts[i]) return -1;
    ++literal;
  }
  return literal;
}

}  // namespace

void Router::add(std::string method, std::string path_template, RouteOptions options, Handler handler) {
  auto route = std::make_unique<Route>();
  for (auto seg : split_path(path_template)) route->segments.emplace_back(seg);
  auto same_shape = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!(is_param(a[i]) && is_param(b[i])) && a[i] != b[i]) return false;
    }
    return true;
  };
  for (const auto& existing : routes_) {
    if (existing->method == method && same_shape(existing->segments, route->segments)) {
      throw std::logic_error("duplicate route " + method + " " + path_template);
    }
  }
  route->method = std::move(method);
  route->path = std::move(path_template);
  route->options = options;
  route->handler = std::move(handler);
  routes_.push_back(std::move(route));
}

void Router::add_async(std::string method, std::string path_template, RouteOptions options,
                       AsyncHandler handler) {
  options.execution = Execution::kAsync;
  add(std::move(method), std::move(path_template), options, nullptr);
  routes_.back()->async_handler = std::move(handler);
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch m;
  auto parts = split_path(path);
  int best_any = -1;
  int best_method = -1;
  // HEAD is GET without the body (RFC 9110 9.3.2): a GET route answers it, the server sends the
  // head only.
  std::string_view want = method == "HEAD" ? std::string_view("GET") : method;
  for (const auto& r : routes_) {
    int s = score(*r, parts);
    if (s < 0) continue;
    if (s > best_any) {
      best_any = s;
      m.path_template = r->path;
    }
    if (r->method == want && s > best_method) {
      best_method = s;
      m.route = r.get();
    }
  }
  if (m.route) {
    // The best template for this method; but a better literal template for another method
    // (e.g. POST /x/process vs GET /x/{id}) means this path is that one, with the wrong method.
    if (best_any > best_method) {
      m.route = nullptr;
    } else {
      m.kind = RouteMatch::Kind::kFound;
      m.path_template = m.route->path;
      for (size_t i = 0; i < parts.size(); ++i) {
        const auto& seg = m.route->segments[i];
        if (is_param(seg)) {
          m.params.emplace_back(std::string_view(seg).substr(1, seg.size() - 2), std::string(parts[i]));
        }
      }
      return m;
    }
  }
  if (best_any < 0) return m;
  m.kind = RouteMatch::Kind::kMethodNotAllowed;
  for (const auto& r : routes_) {
    if (r->path == m.path_template) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += r->method;
    }
  }
  return m;
}

}  // namespace kargo::http
