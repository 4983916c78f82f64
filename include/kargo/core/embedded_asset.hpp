#pragma once
// A file compiled into the binary by cmake/EmbedAsset.cmake (the OpenAPI document, the Swagger UI
// files /docs serves), so a deployment is one file and nothing is read from disk at run time.
// CMakeLists.txt lists the files; each becomes a function in a generated translation unit of its
// own, declared where it is used:
//
//   const kargo::EmbeddedAsset& swagger_ui_css();  // kargo_embed_asset(swagger_ui_css ... GZIP)
//   send(swagger_ui_css().bytes);

#include <string_view>

namespace kargo {

struct EmbeddedAsset {
  std::string_view bytes;
  std::string_view gzip;  // the same bytes gzip-compressed at build time; empty when not asked for
};

}  // namespace kargo
