#include "sim/fabric.hpp"

#include <algorithm>
#include <cmath>

namespace ssmsoc::sim {

namespace {
constexpr double kDoneBytes = 1e-6;  // a transfer with less left than this is done
}

Fabric::Fabric(std::vector<double> capacity)
    : capacity_(std::move(capacity)),
      carried_(capacity_.size(), 0.0),
      left_(capacity_.size()),
      users_(capacity_.size()) {}

int Fabric::start(std::uint64_t now, double bytes, const std::vector<int>& resources, void* owner) {
  advance(now);
  int id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<int>(flows_.size());
    flows_.emplace_back();
  }
  Flow& f = flows_[static_cast<std::size_t>(id)];
  f.remaining = bytes;
  f.rate = 0;
  f.resources = resources;
  f.owner = owner;
  active_.push_back(id);
  dirty_ = true;
  return id;
}

const std::vector<void*>& Fabric::finish(std::uint64_t now) {
  advance(now);
  std::vector<void*>& done = done_;
  done.clear();
  for (std::size_t i = 0; i < active_.size();) {
    Flow& f = flows_[static_cast<std::size_t>(active_[i])];
    if (f.end <= now) {
      done.push_back(f.owner);
      free_ids_.push_back(active_[i]);
      active_[i] = active_.back();
      active_.pop_back();
    } else {
      ++i;
    }
  }
  reschedule(now);
  return done;
}

void Fabric::advance(std::uint64_t now) {
  const double elapsed = static_cast<double>(now - last_);
  if (elapsed > 0)
    for (int id : active_) {
      Flow& f = flows_[static_cast<std::size_t>(id)];
      const double moved = std::min(f.remaining, f.rate * elapsed);
      f.remaining -= moved;
      for (int r : f.resources) carried_[static_cast<std::size_t>(r)] += moved;
    }
  last_ = now;
}

void Fabric::reschedule(std::uint64_t now) {
  dirty_ = false;
  // Max-min fair rates by progressive filling, over the resources the open transfers cross
  // (`touched`: a chip has hundreds of links, a moment a few dozen transfers).
  std::vector<int>& open = open_;
  std::vector<int>& touched = touched_;
  open.clear();
  touched.clear();
  for (int id : active_) {
    Flow& f = flows_[static_cast<std::size_t>(id)];
    f.rate = 0;
    if (f.remaining <= kDoneBytes) continue;
    open.push_back(id);
    for (int r : f.resources)
      if (users_[static_cast<std::size_t>(r)]++ == 0) touched.push_back(r);
  }
  for (int r : touched) left_[static_cast<std::size_t>(r)] = capacity_[static_cast<std::size_t>(r)];
  while (!open.empty()) {
    double share = std::numeric_limits<double>::infinity();
    for (int r : touched)
      if (users_[static_cast<std::size_t>(r)] > 0)
        share = std::min(share, left_[static_cast<std::size_t>(r)] / users_[static_cast<std::size_t>(r)]);
    for (int id : open) {
      Flow& f = flows_[static_cast<std::size_t>(id)];
      f.rate += share;
      for (int r : f.resources) left_[static_cast<std::size_t>(r)] -= share;
    }
    // Freeze the transfers that cross a saturated resource; they no longer use the others.
    std::vector<int>& still = still_;
    still.clear();
    for (int id : open) {
      const Flow& f = flows_[static_cast<std::size_t>(id)];
      bool saturated = false;
      for (int r : f.resources)
        if (left_[static_cast<std::size_t>(r)] <= 1e-9 * capacity_[static_cast<std::size_t>(r)]) saturated = true;
      if (saturated) {
        for (int r : f.resources) --users_[static_cast<std::size_t>(r)];
      } else {
        still.push_back(id);
      }
    }
    if (still.size() == open.size()) break;  // cannot happen: the minimum saturates one
    open.swap(still);
  }
  for (int id : open)
    for (int r : flows_[static_cast<std::size_t>(id)].resources) users_[static_cast<std::size_t>(r)] = 0;
  next_end_ = std::numeric_limits<std::uint64_t>::max();
  for (int id : active_) {
    Flow& f = flows_[static_cast<std::size_t>(id)];
    if (f.remaining <= kDoneBytes) {
      f.end = now;
    } else {
      f.end = now + static_cast<std::uint64_t>(std::ceil(f.remaining / f.rate - 1e-9));
    }
    next_end_ = std::min(next_end_, f.end);
  }
}

}  // namespace ssmsoc::sim
