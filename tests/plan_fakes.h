/* SPDX-License-Identifier: MIT */
/* Fake devices for the scheduler's tests (tests/test_plan.c, tests/test_plan_spills.c): plain limits,
 * and devices of the vendors CI has no machine for, with the requests the vendor tests plan. */
#ifndef OCLA_TESTS_PLAN_FAKES_H
#define OCLA_TESTS_PLAN_FAKES_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/* local_kib KiB of local memory, a work-group limit of wg; a GPU (132 compute units, 32 lanes) or
 * a CPU (2, 8) */
ocla_plan_limits tp_fake(uint64_t local_kib, uint64_t wg, int gpu);

/* A device as it reports itself: local memory, wave, work-group limit and compute units, the vendor
 * and the device name as the parameter table (runtime/plan_params.c) reads them. */
typedef struct vendor_fake {
    const char *row; /* the table row the device must get */
    ocla_vendor vendor;
    const char *name;
    uint64_t local_kib, wg;
    uint32_t wave, cus;
    /* the target of .ci/checks/16-vendor-compile.sh whose numbers stand for this device (the
     * docs/data vendor-compile column), NULL where it compiles for none */
    const char *target;
} vendor_fake;

extern const vendor_fake tp_vendor_fakes[];
extern const size_t tp_n_vendor_fakes;

ocla_plan_limits tp_vendor_limits(const vendor_fake *f);

/* The i-th request the vendor tests plan on every fake (every op kind x shape x the gates the
 * recurrent form and the backward take); 0 past the last. */
int tp_vendor_request(int i, ocla_plan_request *r);

#endif
