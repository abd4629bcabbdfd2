// JSON views of a profile. profile_to_json mirrors the profile schema key for key, so its
// output is itself a loadable profile (JSON is YAML).
#pragma once

#include <nlohmann/json.hpp>

#include "arch/spec/profile.hpp"

namespace ssmsoc {

nlohmann::ordered_json profile_to_json(const Profile& profile);
nlohmann::ordered_json figures_to_json(const ProfileFigures& figures);

}  // namespace ssmsoc
