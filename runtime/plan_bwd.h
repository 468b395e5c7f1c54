/* Folded into plan.h; kept until the op files include plan.h directly. */
#include "plan.h"
