// Creatives per second of transform() on each sample snippet (fixtures/snippets), one core,
// about 2 s per snippet. Usage: creative_bench [SNIPPET_DIR] [SECONDS]
// (default: the repository's fixtures/snippets, 2 s). scripts/bench.sh may call it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/transform.hpp"

using namespace kargo::domain;

namespace {

CreativeConfig config_for(const std::string& file) {
  CreativeConfig c;
  c.name = file;
  if (file.ends_with(".html")) {
    c.format = CreativeFormat::kRunway;
    c.dimensions = Dimensions{320, 50};
  } else {
    c.format = file.starts_with("audio") ? CreativeFormat::kAudio : CreativeFormat::kInstreamVideo;
    c.dimensions = Dimensions{1280, 720};
    c.duration = 15;
    c.branded_canvas = true;
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir =
      argc > 1 ? argv[1] : std::filesystem::path(KARGO_BENCH_SOURCE_DIR) / "fixtures/snippets";
  double seconds = argc > 2 ? std::stod(argv[2]) : 2.0;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto ext = entry.path().extension();
    if (ext == ".html" || ext == ".xml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  auto macros = MacroTable::defaults();
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string snippet = text.str();
    auto config = config_for(path.filename().string());
    size_t runs = 0;
    size_t bytes = 0;
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 50; ++i) bytes += transform(snippet, config, macros).processed_code.size();
      runs += 50;
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-24s %10.0f creatives/s  (%zu bytes in, %zu out)\n", path.filename().c_str(),
                runs / elapsed, snippet.size(), bytes / runs);
  }
  return 0;
}
