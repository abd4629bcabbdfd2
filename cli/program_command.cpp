// `ssmsoc disasm`: the readable listing of a Program file.
#include "arch/spec/profile.hpp"
#include "arch/spec/program.hpp"
#include "cli/commands.hpp"

namespace ssmsoc::cli {

int disasm(const std::string& path, const std::string& profile_name, std::ostream& out) {
  const Program program = read_program(path);
  if (!profile_name.empty()) {
    const Profile profile = load_profile(profile_name);
    validate_program(program, path, &profile);
  }
  out << program_listing(program);
  return 0;
}

}  // namespace ssmsoc::cli
