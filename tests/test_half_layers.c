/* SPDX-License-Identifier: MIT */
/* The layers in half precision (issue 14; runtime/layer_half.c): the GLA layer and the multi-head
 * linear, softmax and Linformer layers, forward and backward, with x, every weight, y, dy, dx and
 * every weight's gradient bf16 or fp16, on every device. Reference: the same layer in fp32 on the
 * same half-rounded inputs (the fp32 layers are checked against fp64 within 1e-4 by
 * test_layer_gla*.c, test_layers_mha.c and test_layer_mha_bwd.c, so the bound below holds against
 * fp64 to within that). The half layer converts at its boundary and runs the fp32 path, so what
 * differs is each output's one rounding: normwise (tc_max_rel_err) <= 5e-3 bf16, 1e-3 fp16. */
#include <math.h>
#include <stdlib.h>

#include "common.h"

#define NA 24 /* arrays of one case at most */

/* The arrays of a case: dims, fp32 host values (inputs), half and fp32 tensors. */
typedef struct hl_set {
    int n, nd[NA], out[NA];
    int64_t dims[NA][3];
    float *host[NA];
    ocla_tensor *th[NA], *tf[NA]; /* half, fp32 */
} hl_set;

/* Array i: dims (nd of them), an input filled with N(0, sd) rounded to dt, or an output. */
static void add(hl_set *s, int nd, int64_t d0, int64_t d1, int64_t d2, float sd, int out) {
    const int i = s->n++;
    s->nd[i] = nd, s->out[i] = out, s->dims[i][0] = d0, s->dims[i][1] = d1, s->dims[i][2] = d2;
    s->host[i] = NULL;
    if (!out) {
        size_t n = 1;
        for (int j = 0; j < nd; j++) n *= (size_t)s->dims[i][j];
        s->host[i] = malloc(n * sizeof(float));
        cr_assert(s->host[i]);
        tc_fill_normal(s->host[i], n, 100u + (uint32_t)i, sd);
    }
}

static void make(ocla_context *ctx, hl_set *s, ocla_dtype dt) {
    for (int i = 0; i < s->n; i++) {
        size_t n = 1;
        for (int j = 0; j < s->nd[i]; j++) n *= (size_t)s->dims[i][j];
        if (s->host[i]) tc_round_to(dt, s->host[i], n);
        s->th[i] = tc_tensor_as(ctx, dt, s->nd[i], s->dims[i], s->host[i]);
        s->tf[i] = tc_tensor_as(ctx, OCLA_F32, s->nd[i], s->dims[i], s->host[i]);
    }
}

/* The largest error of an output of the half run against the fp32 run. */
static double worst_output(ocla_context *ctx, const hl_set *s) {
    double worst = 0.0;
    for (int i = 0; i < s->n; i++) {
        if (!s->out[i]) continue;
        const size_t n = (size_t)ocla_tensor_numel(s->tf[i]);
        float *h = tc_download(ctx, s->th[i]), *f = tc_download(ctx, s->tf[i]);
        double *r = malloc(n * sizeof *r);
        cr_assert(r);
        for (size_t j = 0; j < n; j++) r[j] = f[j];
        cr_assert(tc_all_finite(h, n), "output %d not finite", i);
        worst = fmax(worst, tc_max_rel_err(h, r, n));
        free(h), free(f), free(r);
    }
    return worst;
}

static void release(hl_set *s) {
    for (int i = 0; i < s->n; i++) ocla_tensor_destroy(s->th[i]), ocla_tensor_destroy(s->tf[i]), free(s->host[i]);
    s->n = 0;
}

enum { B = 2, T = 37, DM = 32, H = 2, K = 16, V = 16, R = 8, KP = 8, N = 40 };

/* GLA layer: forward then backward, each in half and in fp32; the worst output error. */
static double gla_case(ocla_context *ctx, ocla_dtype dt) {
    hl_set s = {0};
    const float w = (float)(1.0 / sqrt((double)DM));
    /* inputs: x, dy, w_q w_k w_v w_r w_g1 w_g2 b_g2 norm_w w_o; outputs: y, dx, the 9 gradients */
    add(&s, 3, B, T, DM, 1.0f, 0), add(&s, 3, B, T, DM, 1.0f, 0);
    add(&s, 2, DM, H * K, 0, w, 0), add(&s, 2, DM, H * K, 0, w, 0), add(&s, 2, DM, H * V, 0, w, 0);
    add(&s, 2, DM, H * V, 0, w, 0), add(&s, 2, DM, R, 0, w, 0), add(&s, 2, R, H * K, 0, 0.3f, 0);
    add(&s, 1, H * K, 0, 0, 0.5f, 0), add(&s, 1, V, 0, 0, 1.0f, 0), add(&s, 2, H * V, DM, 0, w, 0);
    add(&s, 3, B, T, DM, 0, 1), add(&s, 3, B, T, DM, 0, 1);
    for (int i = 2; i < 11; i++) add(&s, s.nd[i], s.dims[i][0], s.dims[i][1], 0, 0, 1);
    make(ctx, &s, dt);
    ocla_gla_layer_params p;
    ocla_gla_layer_params_defaults(&p);
    p.heads = H, p.head_k = K, p.head_v = V;
    for (int half = 0; half <= 1; half++) {
        ocla_tensor **t = half ? s.th : s.tf;
        const ocla_gla_layer_weights wt = {t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10]};
        const ocla_gla_layer_grads g = {t[13], t[14], t[15], t[16], t[17], t[18], t[19], t[20], t[21], NULL};
        tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &wt, t[0], t[11]));
        tc_ok(ctx, ocla_gla_layer_backward(ctx, &p, &wt, t[0], t[1], t[12], &g));
    }
    const double e = worst_output(ctx, &s);
    release(&s);
    return e;
}

/* A multi-head layer of kind: as gla_case. */
static double mha_case(ocla_context *ctx, ocla_dtype dt, ocla_mha_kind kind) {
    hl_set s = {0};
    const float w = (float)(1.0 / sqrt((double)DM));
    const int lf = kind == OCLA_MHA_LINFORMER;
    /* inputs: x, dy, w_q w_k w_v w_o b_q b_k b_v b_o E F; outputs: y, dx, the 10 gradients */
    add(&s, 3, B, T, DM, 1.0f, 0), add(&s, 3, B, T, DM, 1.0f, 0);
    add(&s, 2, DM, H * K, 0, w, 0), add(&s, 2, DM, H * K, 0, w, 0), add(&s, 2, DM, H * V, 0, w, 0);
    add(&s, 2, H * V, DM, 0, w, 0), add(&s, 1, H * K, 0, 0, 0.1f, 0), add(&s, 1, H * K, 0, 0, 0.1f, 0);
    add(&s, 1, H * V, 0, 0, 0.1f, 0), add(&s, 1, DM, 0, 0, 0.1f, 0);
    add(&s, 2, KP, N, 0, 0.15f, 0), add(&s, 2, KP, N, 0, 0.15f, 0);
    add(&s, 3, B, T, DM, 0, 1), add(&s, 3, B, T, DM, 0, 1);
    for (int i = 2; i < 12; i++) add(&s, s.nd[i], s.dims[i][0], s.dims[i][1], 0, 0, 1);
    make(ctx, &s, dt);
    ocla_mha_layer_params p;
    ocla_mha_layer_params_defaults(&p, kind);
    p.heads = H, p.head_k = K, p.head_v = V;
    for (int half = 0; half <= 1; half++) {
        ocla_tensor **t = half ? s.th : s.tf;
        const ocla_mha_layer_weights wt = {t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], lf ? t[10] : NULL,
                                           lf ? t[11] : NULL};
        const ocla_mha_layer_grads g = {t[14], t[15], t[16], t[17], t[18], t[19], t[20], t[21], lf ? t[22] : NULL,
                                        lf ? t[23] : NULL};
        tc_ok(ctx, ocla_mha_layer_forward(ctx, &p, &wt, t[0], t[12]));
        tc_ok(ctx, ocla_mha_layer_backward(ctx, &p, &wt, t[0], t[1], t[13], &g));
    }
    if (!lf) /* E, F and their gradients unused: zero on both sides */
        for (int i = 22; i < 24; i++) s.out[i] = 0;
    /* softmax: b_k's gradient is 0 in exact arithmetic (a shift of every key moves each score of a
     * row by q . b_k alike), fp32 rounding noise of ~1e-7 here, below fp16's normal range: not a
     * relative measure of anything */
    if (kind == OCLA_MHA_SOFTMAX) s.out[19] = 0;
    const double e = worst_output(ctx, &s);
    release(&s);
    return e;
}

Test(half_layers, gla_and_mha_forward_and_backward, .timeout = 900) {
    static const char *const kinds[3] = {"linear", "softmax", "linformer"};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            const double tol = dt == OCLA_BF16 ? 5e-3 : 1e-3;
            const char *dn = ocla_dtype_name((ocla_dtype)dt);
            const double e = gla_case(ctx, (ocla_dtype)dt);
            cr_expect(e <= tol, "%s %s GLA layer: error %.3g (tol %.0e)", tc_device_name(d), dn, e, tol);
            cr_log_info("%s %s GLA layer: max error of y, dx and the weights' gradients %.3g", tc_device_name(d), dn, e);
            for (int k = OCLA_MHA_LINEAR; k <= OCLA_MHA_LINFORMER; k++) {
                const double m = mha_case(ctx, (ocla_dtype)dt, (ocla_mha_kind)k);
                cr_expect(m <= tol, "%s %s %s layer: error %.3g (tol %.0e)", tc_device_name(d), dn, kinds[k], m, tol);
                cr_log_info("%s %s %s layer: max error %.3g", tc_device_name(d), dn, kinds[k], m);
            }
        }
        ocla_context_destroy(ctx);
    }
}
