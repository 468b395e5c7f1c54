/* SPDX-License-Identifier: MIT */
/* Shared helpers for the Criterion suites: the devices under test, random inputs, error metrics. */
#ifndef OCLA_TESTS_COMMON_H
#define OCLA_TESTS_COMMON_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* strstr in tc_refused */

#include "ocla/ocla.h"

/* Devices under test: every OpenCL device present, narrowed by OCLA_TEST_DEVICES (a comma-separated
 * list of selectors, e.g. "pocl,rusticl" or "nvidia"). */
int tc_device_count(void);
/* A context on device i (of the devices under test). Asserts on failure. */
ocla_context *tc_open(int i);
/* Same with options (device field is overwritten). */
ocla_context *tc_open_with(int i, ocla_context_options *opts);
const char *tc_device_name(int i);

/* fn(ctx, d) on a fresh context of every device under test (tc_open(d), destroyed after). */
void tc_on_every_device(void (*fn)(ocla_context *ctx, int d));

/* The chunks the scheduler may pick for request r on this context's device (ocla_plan_candidates on
 * its limits, read under the context's lock), at most max; asserts that there is one. */
int tc_plan_candidates(ocla_context *ctx, const ocla_plan_request *r, int *chunks, int max);

/* The parameters of a test run once per op-table entry (tests/op_table.h): the indices 0 .. op_count() - 1,
 * at most TC_MAX_OP_ENTRIES (test_op_table.c asserts that the table fits). */
#define TC_MAX_OP_ENTRIES 128
struct criterion_test_params tc_op_entries(void);

/* Deterministic random numbers (xorshift), uniform in [lo, hi). */
void tc_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi);
void tc_fill_normal(float *x, size_t n, uint32_t seed, float stddev);
double *tc_to_double(const float *x, size_t n); /* malloc'd copy */

/* Normwise max relative error: max_i |got_i - ref_i| / max(max_i |ref_i|, 1e-30). The metric
 * every "max relative error" in the tests and the issues refers to. */
double tc_max_rel_err(const float *got, const double *ref, size_t n);
/* Rowwise: the array as rows of `cols` elements, each row's error relative to its own largest
 * |ref| (max over rows of max_i |got_i - ref_i| / max(max_i |ref_i|, 1e-30)). A mistake confined
 * to rows far smaller than the largest (a small-magnitude row, an eps that only matters there) is
 * as visible as one in the largest row; an all-zero reference row must come out (almost) zero. */
double tc_max_rel_err_rows(const float *got, const double *ref, size_t n, size_t cols);
/* Elementwise: max_i |got_i - ref_i| / (atol + rtol |ref_i|); <= 1 passes. For outputs whose every
 * element is a well-conditioned function of the inputs (an elementwise op, a norm's output). */
double tc_elem_err(const float *got, const double *ref, size_t n, double atol, double rtol);
/* Same between two float arrays (ref in float). */
double tc_max_rel_err_f(const float *got, const float *ref, size_t n);
/* True when every value is finite. */
int tc_all_finite(const float *x, size_t n);

/* Tensor helpers (assert on failure). host may be NULL (zeros). */
ocla_tensor *tc_tensor(ocla_context *ctx, int ndim, const int64_t *dims, const float *host);
ocla_tensor *tc_tensor4(ocla_context *ctx, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const float *host);
float *tc_download(ocla_context *ctx, const ocla_tensor *t); /* malloc'd, numel floats (half: widened) */
/* Half precision: a tensor of dtype dt holding host (fp32 values rounded to dt, ties to even; NULL:
 * left as created), and x rounded to dt in place (the values a half tensor of x holds: the inputs
 * an fp64 reference takes). fp32: unchanged. */
ocla_tensor *tc_tensor_as(ocla_context *ctx, ocla_dtype dt, int ndim, const int64_t *dims, const float *host);
void tc_round_to(ocla_dtype dt, float *x, size_t n);

/* Device i (tc_open's numbering) with its disk cache in dir under the given mode; warnings (an
 * untrusted directory) not logged. *ctx is NULL on failure. */
ocla_status tc_open_cached(int i, const char *dir, ocla_cache_mode mode, ocla_context **ctx);
/* A fresh private directory under /tmp (mkdtemp, mode 0700; malloc'd path), and rm -rf of one. */
char *tc_temp_dir(void);
void tc_remove_tree(const char *dir);

/* Assert a status with the context's error detail in the message. */
#define tc_ok(ctx, expr)                                                                             \
    do {                                                                                             \
        ocla_status st_ = (expr);                                                                    \
        cr_assert_eq(st_, OCLA_SUCCESS, "%s -> %s: %s", #expr, ocla_status_string(st_),             \
                     ocla_last_error(ctx));                                                          \
    } while (0)

/* Expect (cr_expect: the test goes on) status want and a non-empty error detail. */
#define tc_fails(ctx, want, expr)                                                                         \
    do {                                                                                                  \
        ocla_status st_ = (expr);                                                                         \
        cr_expect_eq(st_, (want), "%s -> %s, expected %s (%s)", #expr, ocla_status_string(st_),           \
                     ocla_status_string(want), ocla_last_error(ctx));                                     \
        cr_expect(ocla_last_error(ctx) && ocla_last_error(ctx)[0] != 0, "%s: empty error detail", #expr); \
    } while (0)

/* name appears in msg as a word (not inside another identifier), case aside (the blocks' headers
 * call their tensors X, W, dY): "k" in "k: dim 3 is 17" but not in "kernel" */
int tc_names(const char *msg, const char *name);

/* Assert that expr is refused with status want and that the context's detail names word (the
 * argument or tensor the caller got wrong). */
#define tc_refused(ctx, want, expr, word)                                                                      \
    do {                                                                                                       \
        const ocla_status st_ = (expr);                                                                        \
        cr_assert_eq(st_, (want), "%s -> %s: %s", #expr, ocla_status_string(st_), ocla_last_error(ctx));      \
        cr_assert(strstr(ocla_last_error(ctx), (word)), "%s: the detail '%s' does not name %s", #expr,         \
                  ocla_last_error(ctx), (word));                                                               \
    } while (0)

#endif
