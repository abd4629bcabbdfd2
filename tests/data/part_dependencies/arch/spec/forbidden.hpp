// The spec depends on nothing.
#include "arch/numerics/numerics.hpp"
