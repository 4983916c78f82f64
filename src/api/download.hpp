#pragma once
// Internal to src/api: a generated file (a bulk sheet, a report export) as the download answer,
// with its name in Content-Disposition.
#include <utility>

#include "kargo/http/message.hpp"
#include "kargo/store/generated_files.hpp"

namespace kargo::api {

inline http::Response download_response(store::GeneratedFile file) {
  http::Response res;
  res.content_type = std::move(file.content_type);
  res.body = std::move(file.bytes);
  res.header("Content-Disposition", "attachment; filename=\"" + file.filename + "\"");
  return res;
}

}  // namespace kargo::api
