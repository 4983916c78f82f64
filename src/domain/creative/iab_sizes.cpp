// Standard IAB sizes, for the "not a standard size" warning of contract section 4 rule 8.
// Display: the IAB New Ad Portfolio fixed sizes plus the legacy units still sold. Video: the
// common 16:9, 4:3 and vertical player sizes. Audio creatives only have dimensions for their
// companion banner, so they are checked against the display sizes.
#include <algorithm>
#include <array>
#include <utility>

#include "kargo/domain/creative/transform.hpp"

namespace kargo::domain {
namespace {

constexpr std::array<std::pair<int, int>, 30> kDisplaySizes{{
    {88, 31},    {120, 60},  {120, 90},   {120, 240},  {120, 600}, {125, 125}, {160, 600}, {180, 150},
    {200, 200},  {234, 60},  {240, 400},  {250, 250},  {300, 50},  {300, 100}, {300, 250}, {300, 600},
    {300, 1050}, {320, 50},  {320, 100},  {320, 480},  {336, 280}, {468, 60},  {480, 320}, {728, 90},
    {970, 90},   {970, 250}, {768, 1024}, {1024, 768}, {970, 66},  {320, 250},
}};

constexpr std::array<std::pair<int, int>, 19> kVideoSizes{{
    {256, 144},   {320, 180},   {400, 300},   {426, 240},   {480, 270},  {480, 360},  {640, 360},
    {640, 480},   {720, 480},   {720, 576},   {854, 480},   {960, 540},  {1024, 576}, {1280, 720},
    {1920, 1080}, {2560, 1440}, {3840, 2160}, {1080, 1920}, {720, 1280},
}};

template <size_t N>
bool listed(const std::array<std::pair<int, int>, N>& sizes, const Dimensions& d) {
  return std::find(sizes.begin(), sizes.end(), std::pair{d.width, d.height}) != sizes.end();
}

}  // namespace

bool is_standard_iab_size(MediaType type, const Dimensions& dimensions) {
  return type == MediaType::kVideo ? listed(kVideoSizes, dimensions) : listed(kDisplaySizes, dimensions);
}

}  // namespace kargo::domain
