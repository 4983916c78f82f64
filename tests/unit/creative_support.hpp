#pragma once
// Helpers shared by the creative transformation tests: repository files (never /work/shared at
// run time), configs built the way the API builds them, and the IAB schema check with libxml2.
//
//   auto cfg = creative_config("instream_video", "phase_1", {{"duration", 30}});
//   auto r = transform(read_repo_file("fixtures/snippets/instream_81400.xml"), cfg, MacroTable::defaults());
//   EXPECT_EQ(vast_schema_errors(r.processed_code, "4.2"), "");

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kargo/domain/creative/config.hpp"
#include "kargo/domain/creative/transform.hpp"

namespace kargo::creative_test {

std::string repo_path(std::string_view relative);  // KARGO_SOURCE_DIR + "/" + relative
std::string read_repo_file(std::string_view relative);
void write_repo_file(std::string_view relative, std::string_view content);

// A valid creative_config JSON for the format and phase (dimensions, duration, seat/pub ids
// filled in), with `overrides` merged on top (a null value removes the key).
nlohmann::json creative_config_json(const std::string& format, const std::string& phase,
                                    const nlohmann::json& overrides = nlohmann::json::object());
domain::CreativeConfig creative_config(const std::string& format, const std::string& phase,
                                       const nlohmann::json& overrides = nlohmann::json::object());

// "" when `xml` is valid against fixtures/vast-xsd for `version` ("2.0" ... "4.2"), else the
// first errors libxml2 reported.
std::string vast_schema_errors(const std::string& xml, const std::string& version);
// The VAST version attribute of a document ("" when none).
std::string vast_version_of(const std::string& xml);

// Occurrences of `needle` in `haystack`, case-insensitive (needle lower-case).
size_t count_ci(std::string_view haystack, std::string_view needle);

}  // namespace kargo::creative_test
