// The firmware sees only the spec.
#include "arch/golden/kernels.hpp"
