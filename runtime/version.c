/* SPDX-License-Identifier: MIT */
/* The library's version (ocla_version() itself is in status.c). */
#include "ocla/ocla.h"

int ocla_version_number(void) { return OCLA_VERSION; }
