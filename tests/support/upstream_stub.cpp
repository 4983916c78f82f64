#include "support/upstream_stub.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace kargo::itest {
namespace {

constexpr int kPollMs = 50;  // how quickly threads notice that the stub stops

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// Plain or TLS byte stream over one accepted socket.
class Io {
 public:
  Io(int fd, SSL* ssl, const std::atomic<bool>& stopping) : fd_(fd), ssl_(ssl), stopping_(stopping) {}

  // >0 bytes read; 0 closed, failed or stopping.
  int read(char* buf, int size) {
    while (!stopping_) {
      if (!ssl_ || SSL_pending(ssl_) == 0) {
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, kPollMs);
        if (r < 0 && errno != EINTR) return 0;
        if (r <= 0) continue;
      }
      int n =
          ssl_ ? SSL_read(ssl_, buf, size) : static_cast<int>(::recv(fd_, buf, static_cast<size_t>(size), 0));
      if (n < 0 && !ssl_ && errno == EINTR) continue;
      return n > 0 ? n : 0;
    }
    return 0;
  }

  bool write(std::string_view data) {
    while (!data.empty()) {
      int n = ssl_ ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                   : static_cast<int>(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL));
      if (n <= 0) {
        if (!ssl_ && n < 0 && errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  int fd_;
  SSL* ssl_;
  const std::atomic<bool>& stopping_;
};

}  // namespace

std::optional<std::string> StubRequest::header(std::string_view name) const {
  auto key = lower(std::string(name));
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return std::nullopt;
}

UpstreamStub::UpstreamStub(Handler handler, std::optional<StubTls> tls)
    : tls_(std::move(tls)), handler_(std::move(handler)) {
  // A client that goes away mid-reply must fail the write, not kill the test binary (SSL_write
  // writes without MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  if (tls_) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, tls_->cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, tls_->key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ctx) SSL_CTX_free(ctx);
      throw std::runtime_error("stub: cannot load the TLS certificate " + tls_->cert_file);
    }
    tls_ctx_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("stub listen failed: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

UpstreamStub::~UpstreamStub() {
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    stop_cv_.notify_all();
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // unblocks a thread inside SSL_read
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
  if (tls_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
}

std::string UpstreamStub::url(std::string_view path, std::string_view host) const {
  return std::string(tls_ ? "https://" : "http://") + std::string(host) + ":" + std::to_string(port_) +
         std::string(path);
}

void UpstreamStub::set_handler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

std::vector<StubRequest> UpstreamStub::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t UpstreamStub::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_fds_.size();
}

std::size_t UpstreamStub::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

void UpstreamStub::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    unsigned number = ++connections_;
    std::lock_guard lock(mutex_);
    open_fds_.insert(fd);
    threads_.emplace_back([this, fd, number] { serve(fd, number); });
  }
}

void UpstreamStub::serve(int fd, unsigned connection) {
  SSL* ssl = nullptr;
  bool ok = true;
  if (tls_ctx_) {
    ssl = SSL_new(static_cast<SSL_CTX*>(tls_ctx_));
    SSL_set_fd(ssl, fd);
    ok = SSL_accept(ssl) == 1;  // fails when the client refuses our certificate
  }
  Io io(fd, ssl, stopping_);
  std::string buf;
  char chunk[16384];
  unsigned index = 0;
  while (ok && !stopping_) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      int n = io.read(chunk, sizeof chunk);
      if (n <= 0) {
        ok = false;
        break;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    if (!ok) break;
    StubRequest req;
    req.connection = connection;
    req.index_on_connection = ++index;
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    auto line_end = head.find("\r\n");
    std::string request_line = head.substr(0, line_end);
    auto sp1 = request_line.find(' ');
    auto sp2 = request_line.find(' ', sp1 + 1);
    req.method = request_line.substr(0, sp1);
    req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    std::size_t content_length = 0;
    bool client_close = false;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string field = head.substr(pos, next - pos);
      pos = next + 2;
      auto colon = field.find(':');
      if (colon == std::string::npos) continue;
      std::string name = lower(trim(field.substr(0, colon)));
      std::string value = trim(field.substr(colon + 1));
      if (name == "content-length") content_length = std::stoul(value);
      if (name == "connection" && lower(value) == "close") client_close = true;
      req.headers.emplace_back(name, value);
    }
    while (buf.size() < content_length) {
      int n = io.read(chunk, sizeof chunk);
      if (n <= 0) {
        ok = false;
        break;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    if (!ok) break;
    req.body = buf.substr(0, content_length);
    buf.erase(0, content_length);

    Handler handler;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(req);
      handler = handler_;
    }
    StubReply reply = handler(req);
    if (reply.drop) break;
    if (reply.hang || reply.delay.count() > 0) {
      std::unique_lock lock(mutex_);
      if (reply.hang) {
        stop_cv_.wait(lock, [&] { return stopping_.load(); });
      } else {
        stop_cv_.wait_for(lock, reply.delay, [&] { return stopping_.load(); });
      }
      if (stopping_) break;
    }
    if (!reply.raw.empty()) {
      ok = io.write(reply.raw);
    } else {
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
      bool has_length = false;
      for (const auto& [k, v] : reply.headers) {
        if (lower(k) == "content-length") has_length = true;
        out += k + ": " + v + "\r\n";
      }
      if (reply.chunks) {
        out += "Transfer-Encoding: chunked\r\n\r\n";
        ok = io.write(out);
        for (std::size_t i = 0; ok && !stopping_; ++i) {
          std::string piece = reply.chunks(i);
          char size[32];
          std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
          ok = io.write(std::string(size) + piece + "\r\n");
          if (piece.empty()) break;
        }
        if (!ok) ++chunked_aborted_;
      } else {
        if (!has_length) out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
        out += "\r\n" + reply.body;
        ok = io.write(out);
      }
    }
    if (reply.close_after || client_close) break;
  }
  {
    std::lock_guard lock(mutex_);
    open_fds_.erase(fd);
  }
  if (ssl) SSL_free(ssl);
  ::close(fd);
}

TestCertificates make_test_certificates(const TempDir& dir, const std::vector<std::string>& subject_alt_names,
                                        const std::string& prefix) {
  TestCertificates out{dir.file(prefix + "-ca.pem"), dir.file(prefix + ".pem"), dir.file(prefix + ".key")};
  std::string ca_key = dir.file(prefix + "-ca.key"), csr = dir.file(prefix + ".csr"),
              ext = dir.file(prefix + ".ext");
  std::string sans;
  for (const auto& san : subject_alt_names) sans += (sans.empty() ? "" : ",") + san;
  std::ofstream(ext) << "subjectAltName=" << sans
                     << "\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth\n";
  auto run = [](const std::vector<std::string>& argv) {
    auto r = run_command(argv);
    if (r.exit_code != 0) throw std::runtime_error(argv[1] + " failed: " + r.err);
  };
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                           "-nodes"};
  std::vector<std::string> ca = {"openssl", "req", "-x509"};
  ca.insert(ca.end(), ec_key.begin(), ec_key.end());
  ca.insert(ca.end(),
            {"-keyout", ca_key, "-out", out.ca_cert, "-days", "2", "-subj", "/CN=kargo test CA " + prefix});
  run(ca);
  std::vector<std::string> req = {"openssl", "req"};
  req.insert(req.end(), ec_key.begin(), ec_key.end());
  req.insert(req.end(), {"-keyout", out.server_key, "-out", csr, "-subj", "/CN=kargo test server"});
  run(req);
  run({"openssl", "x509", "-req", "-in", csr, "-CA", out.ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-out",
       out.server_cert, "-days", "2", "-extfile", ext});
  return out;
}

std::pair<std::string, std::string> endless_gzip_bomb(unsigned mebibytes) {
  // gzip header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
  std::string header("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("zlib");
  std::string zeros(static_cast<size_t>(mebibytes) << 20, '\0');
  std::string block(deflateBound(&z, zeros.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(zeros.data());
  z.avail_in = static_cast<uInt>(zeros.size());
  z.next_out = reinterpret_cast<Bytef*>(block.data());
  z.avail_out = static_cast<uInt>(block.size());
  // A full flush ends byte-aligned and forgets the window: the block decodes the same after
  // any number of copies of itself.
  deflate(&z, Z_FULL_FLUSH);
  block.resize(z.total_out);
  deflateEnd(&z);
  return {header, block};
}

}  // namespace kargo::itest
