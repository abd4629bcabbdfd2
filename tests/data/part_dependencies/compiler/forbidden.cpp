// The compiler never includes the simulator.
#include "sim/sim.hpp"
