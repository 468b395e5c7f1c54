/* SPDX-License-Identifier: MIT */
/* The library's version, as the header it was built with says. */
#include "ocla/ocla.h"

int ocla_version_number(void) { return OCLA_VERSION; }
const char *ocla_version(void) { return OCLA_VERSION_STRING; }
