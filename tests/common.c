/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* mkdtemp, strcasestr */
#include "common.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_table.h"
#include "plan.h"

#define TC_MAX_DEVICES 32

static int g_n = -1;
static size_t g_index[TC_MAX_DEVICES];
static char g_names[TC_MAX_DEVICES][300];

static void tc_init(void) {
    if (g_n >= 0) return;
    g_n = 0;
    size_t count = 0;
    if (ocla_device_count(&count) != OCLA_SUCCESS) count = 0;
    const char *filter = getenv("OCLA_TEST_DEVICES");
    for (size_t i = 0; i < count && g_n < TC_MAX_DEVICES; i++) {
        int take = 1;
        if (filter && *filter) {
            take = 0;
            char buf[512];
            snprintf(buf, sizeof buf, "%s", filter);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                size_t sel;
                if (ocla_device_select(tok, &sel) == OCLA_SUCCESS && sel == i) take = 1;
            }
        }
        if (!take) continue;
        ocla_device_info info;
        if (ocla_device_get_info(i, &info) != OCLA_SUCCESS) continue;
        g_index[g_n] = i;
        snprintf(g_names[g_n], sizeof g_names[g_n], "%s / %s", info.platform_name, info.device_name);
        g_n++;
    }
}

int tc_device_count(void) {
    tc_init();
    return g_n;
}

const char *tc_device_name(int i) {
    tc_init();
    return (i >= 0 && i < g_n) ? g_names[i] : "?";
}

ocla_context *tc_open_with(int i, ocla_context_options *opts) {
    tc_init();
    cr_assert(i >= 0 && i < g_n, "no device %d", i);
    char sel[32];
    snprintf(sel, sizeof sel, "%zu", g_index[i]);
    opts->device = sel;
    ocla_context *ctx = NULL;
    ocla_status st = ocla_context_create(opts, &ctx);
    cr_assert_eq(st, OCLA_SUCCESS, "context on %s: %s: %s", g_names[i], ocla_status_string(st), ocla_last_error(NULL));
    return ctx;
}

ocla_context *tc_open(int i) {
    ocla_context_options opts;
    ocla_context_options_defaults(&opts);
    return tc_open_with(i, &opts);
}

void tc_on_every_device(void (*fn)(ocla_context *ctx, int d)) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        fn(ctx, d);
        ocla_context_destroy(ctx);
    }
}

int tc_plan_candidates(ocla_context *ctx, const ocla_plan_request *r, int *chunks, int max) {
    ocla_plan_limits L;
    OCLA_LOCK(ctx);
    ocla_status st = ocla__plan_limits(ctx, &L);
    OCLA_UNLOCK(ctx);
    cr_assert_eq(st, OCLA_SUCCESS, "%s", ocla_last_error(ctx));
    const int n = ocla_plan_candidates(&L, r, chunks, max);
    cr_assert_gt(n, 0, "no chunk candidates for op %d", (int)r->op);
    return n;
}

struct criterion_test_params tc_op_entries(void) {
    static int idx[TC_MAX_OP_ENTRIES];
    const int n = op_count() < TC_MAX_OP_ENTRIES ? op_count() : TC_MAX_OP_ENTRIES;
    for (int i = 0; i < n; i++) idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n);
}

static uint32_t xs(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

void tc_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi) {
    uint32_t s = seed * 2654435761u + 12345u;
    if (!s) s = 1;
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)((xs(&s) >> 8) * (1.0 / 16777216.0));
}

void tc_fill_normal(float *x, size_t n, uint32_t seed, float stddev) {
    uint32_t s = seed * 2246822519u + 777u;
    if (!s) s = 1;
    for (size_t i = 0; i < n; i++) {
        double u1 = ((xs(&s) >> 8) + 1.0) / 16777217.0, u2 = (xs(&s) >> 8) / 16777216.0;
        x[i] = (float)(stddev * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

double *tc_to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    cr_assert(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

double tc_max_rel_err(const float *got, const double *ref, size_t n) {
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(ref[i]), d = fabs((double)got[i] - ref[i]);
        if (r > maxref) maxref = r;
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates */
    }
    return maxdiff / (maxref > 1e-30 ? maxref : 1e-30);
}

double tc_max_rel_err_rows(const float *got, const double *ref, size_t n, size_t cols) {
    double worst = 0;
    for (size_t r0 = 0; cols && r0 < n; r0 += cols) {
        const size_t len = n - r0 < cols ? n - r0 : cols;
        const double e = tc_max_rel_err(got + r0, ref + r0, len);
        if (!(e <= worst)) worst = e; /* NaN propagates */
    }
    return worst;
}

double tc_elem_err(const float *got, const double *ref, size_t n, double atol, double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

double tc_max_rel_err_f(const float *got, const float *ref, size_t n) {
    double maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)ref[i]), d = fabs((double)got[i] - (double)ref[i]);
        if (r > maxref) maxref = r;
        if (!(d <= maxdiff)) maxdiff = d;
    }
    return maxdiff / (maxref > 1e-30 ? maxref : 1e-30);
}

int tc_all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

ocla_tensor *tc_tensor(ocla_context *ctx, int ndim, const int64_t *dims, const float *host) {
    return tc_tensor_as(ctx, OCLA_F32, ndim, dims, host);
}

ocla_tensor *tc_tensor_as(ocla_context *ctx, ocla_dtype dt, int ndim, const int64_t *dims, const float *host) {
    ocla_tensor *t = NULL;
    tc_ok(ctx, ocla_tensor_create(ctx, dt, ndim, dims, &t));
    if (!host) return t;
    const size_t n = (size_t)ocla_tensor_numel(t);
    void *raw = dt == OCLA_F32 ? NULL : malloc((n ? n : 1) * ocla_dtype_size(dt));
    if (dt != OCLA_F32) cr_assert(raw && ocla_convert_from_f32(dt, host, raw, n) == OCLA_SUCCESS);
    tc_ok(ctx, ocla_tensor_upload(ctx, t, raw ? raw : (const void *)host, n * ocla_dtype_size(dt)));
    free(raw);
    return t;
}

void tc_round_to(ocla_dtype dt, float *x, size_t n) {
    if (dt == OCLA_F32) return;
    uint16_t *bits = malloc((n ? n : 1) * sizeof *bits);
    cr_assert(bits && ocla_convert_from_f32(dt, x, bits, n) == OCLA_SUCCESS);
    cr_assert_eq(ocla_convert_to_f32(dt, bits, x, n), OCLA_SUCCESS);
    free(bits);
}

ocla_tensor *tc_tensor4(ocla_context *ctx, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const float *host) {
    int64_t dims[4] = {d0, d1, d2, d3};
    return tc_tensor(ctx, 4, dims, host);
}

float *tc_download(ocla_context *ctx, const ocla_tensor *t) {
    size_t n = (size_t)ocla_tensor_numel(t);
    const ocla_dtype dt = ocla_tensor_dtype(t);
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert(x);
    if (dt == OCLA_F32) {
        tc_ok(ctx, ocla_tensor_download(ctx, t, x, n * sizeof(float)));
        return x;
    }
    void *raw = malloc((n ? n : 1) * ocla_dtype_size(dt));
    cr_assert(raw);
    tc_ok(ctx, ocla_tensor_download(ctx, t, raw, n * ocla_dtype_size(dt)));
    cr_assert_eq(ocla_convert_to_f32(dt, raw, x, n), OCLA_SUCCESS);
    free(raw);
    return x;
}

ocla_status tc_open_cached(int d, const char *dir, ocla_cache_mode mode, ocla_context **ctx) {
    ocla_context *probe = tc_open(d); /* the device's global index, for the selector */
    ocla_device_info info;
    ocla_context_device_info(probe, &info);
    ocla_context_destroy(probe);
    char sel[16];
    snprintf(sel, sizeof sel, "%d", info.global_index);
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = sel;
    o.cache_dir = dir;
    o.cache_mode = mode;
    o.log_level = OCLA_LOG_ERROR; /* the untrusted-directory warning is expected here */
    *ctx = NULL;
    return ocla_context_create(&o, ctx);
}

char *tc_temp_dir(void) {
    char *t = strdup("/tmp/ocla-test-XXXXXX");
    cr_assert_not_null(t);
    cr_assert_not_null(mkdtemp(t));
    return t;
}

void tc_remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

int tc_names(const char *msg, const char *name) {
    const size_t n = strlen(name);
    for (const char *p = strcasestr(msg, name); p; p = strcasestr(p + 1, name)) {
        const int before = p > msg && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        const int after = isalnum((unsigned char)p[n]) || p[n] == '_';
        if (!before && !after) return 1;
    }
    return 0;
}
