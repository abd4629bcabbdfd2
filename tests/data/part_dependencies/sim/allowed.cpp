// The simulator may use the spec and the firmware.
#include "arch/spec/profile.hpp"
#include "firmware/runtime.h"
