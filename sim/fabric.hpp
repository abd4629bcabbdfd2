// Bandwidth sharing between concurrent transfers (a fluid model): every transfer in flight
// crosses a set of resources (DRAM, global buffer, tile SRAMs, NoC links), each with a
// bandwidth in bytes/cycle, and the transfers get max-min fair rates (progressive filling:
// a resource's bandwidth is split evenly among the transfers it limits; what a transfer
// limited elsewhere does not use goes to the others). Rates are recomputed whenever a
// transfer starts or ends. Time is in whole cycles: a transfer ends at the first cycle
// boundary at or after its last byte. No SystemC here.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace ssmsoc::sim {

class Fabric {
 public:
  explicit Fabric(std::vector<double> capacity);

  // Starts a transfer of `bytes` over `resources` at cycle `now`; returns its id.
  int start(std::uint64_t now, double bytes, const std::vector<int>& resources, void* owner);
  // The cycle at which the next transfer ends (max() when none is in flight).
  std::uint64_t next_end() {
    if (dirty_) reschedule(last_);
    return next_end_;
  }
  // Ends the transfers done by cycle `now`; returns their owners (valid until the next call).
  const std::vector<void*>& finish(std::uint64_t now);
  std::size_t in_flight() const { return active_.size(); }
  // Bytes each resource has carried so far.
  const std::vector<double>& carried() const { return carried_; }

 private:
  struct Flow {
    double remaining = 0;
    double rate = 0;
    std::uint64_t end = 0;
    std::vector<int> resources;
    void* owner = nullptr;
  };
  void advance(std::uint64_t now);
  void reschedule(std::uint64_t now);

  std::vector<double> capacity_;
  std::vector<double> carried_;
  std::vector<Flow> flows_;  // by id; ids are reused
  std::vector<int> active_;  // ids in flight
  std::vector<int> free_ids_;
  std::uint64_t last_ = 0;
  bool dirty_ = false;  // transfers started since the rates were computed
  std::uint64_t next_end_ = std::numeric_limits<std::uint64_t>::max();
  // Scratch of the rate computation.
  std::vector<double> left_;
  std::vector<int> users_;  // per resource: the open transfers crossing it (0 between calls)
  std::vector<int> open_, still_, touched_;
  std::vector<void*> done_;
};

}  // namespace ssmsoc::sim
