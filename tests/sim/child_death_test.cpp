// Simulations in child processes (sim::simulate_in_children, as `ssmsoc run` uses them) die
// with their parent: killing `ssmsoc run` mid-simulation leaves no simulation running.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

using namespace std::chrono_literals;

// The state letter and parent of a process from /proc/PID/stat; state 0 when it is gone.
struct ProcessState {
  char state = 0;
  pid_t parent = 0;
};

ProcessState state_of(pid_t pid) {
  std::string text;
  try {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {  // it exited while being read (ESRCH: basic_filebuf::underflow)
    return {};
  }
  const auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos || close + 4 >= text.size()) return {};
  ProcessState s;
  s.state = text[close + 2];
  s.parent = static_cast<pid_t>(std::stol(text.substr(close + 4)));
  return s;
}

// Running (not exited, not a zombie).
bool running(pid_t pid) {
  const char state = state_of(pid).state;
  return state != 0 && state != 'Z' && state != 'X';
}

std::vector<pid_t> running_children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (state_of(pid).parent == parent && running(pid)) children.push_back(pid);
  }
  return children;
}

TEST(SimulationChildren, DieWithTheirParent) {
  // Long enough a simulation (seconds per phase) that the children are still at work when
  // their parent is killed.
  const pid_t cli = fork();
  ASSERT_GE(cli, 0);
  if (cli == 0) {
    const int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
    execl(SSMSOC_SSMSOC_BINARY, "ssmsoc", "run", "--profile", "krsna-mobile", "--model", "mamba-2.8b", "--prompt",
          "2048", "--generate", "16", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::vector<pid_t> simulations;
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (simulations.empty() && std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(cli, &status, WNOHANG) == cli) FAIL() << "ssmsoc run ended before it simulated";
    std::this_thread::sleep_for(10ms);
    simulations = running_children_of(cli);
  }
  ASSERT_FALSE(simulations.empty()) << "no simulation started within 120 s";
  std::this_thread::sleep_for(200ms);  // every phase's child started
  simulations = running_children_of(cli);
  ASSERT_FALSE(simulations.empty()) << "the simulations ended too soon for the test to mean anything";

  kill(cli, SIGKILL);
  waitpid(cli, nullptr, 0);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  std::vector<pid_t> left = simulations;
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    std::erase_if(left, [](pid_t pid) { return !running(pid); });
  }
  EXPECT_TRUE(left.empty()) << left.size() << " of " << simulations.size()
                            << " simulation processes still ran 2 s after their parent was killed";
  for (const pid_t pid : left) kill(pid, SIGKILL);  // not to leave them behind when the test fails
}

}  // namespace
}  // namespace ssmsoc
