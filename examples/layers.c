/* SPDX-License-Identifier: MIT */
/* layers: run the attention ops of <ocla/softmax.h> and <ocla/flash.h> and the full [B,T,d_model]
 * layers of <ocla/layers.h> on the chosen device (argv[1] or OCLA_DEVICE) and print their times.
 *
 *   ops:    softmax (causal), FLASH mixed chunk (causal, C = 256), Linformer (k = 64) on [B,T,H,D],
 *           each with the plan it ran (ocla_plan_explain: kernels, tiles, work-group and why)
 *   layers: linear attention (causal, elu+1, normalised), softmax (causal) and Linformer (k = 64)
 *           on x [B,T,d_model] with d_model = H*D: projections, attention, output projection
 *
 * Each runs three times (the first builds its kernels); the best time is printed, and for the
 * layers a checksum of y (sum and sum of |y|) so runs on two devices can be compared. The weights
 * are random here; a model would upload its trained ones the same way. */
#include <math.h>
#include <ocla/ocla.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { B = 1, T = 1024, H = 4, D = 64, KP = 64, DM = H * D };

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A new tensor filled with deterministic values uniform in [-a, a). */
static ocla_status random_tensor(ocla_context *ctx, int ndim, const int64_t *dims, float a, unsigned seed,
                                 ocla_tensor **out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    float *host = malloc(n * sizeof *host);
    if (!host) return OCLA_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        host[i] = a * ((float)(seed >> 8) / 8388608.0f - 1.0f);
    }
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, ndim, dims, out);
    if (st == OCLA_SUCCESS) st = ocla_tensor_upload(ctx, *out, host, n * sizeof *host);
    free(host);
    return st;
}

/* The plan an op runs for [B,T,H,D] (chunk 0: the scheduler's pick), in one line. */
static void print_plan(ocla_context *ctx, ocla_op_kind op, int chunk) {
    ocla_plan_request r = {op, B, T, H, D, D, chunk, 0, 0, 0};
    char text[512];
    if (ocla_plan_explain(ctx, &r, NULL, text, sizeof text) == OCLA_SUCCESS) printf("      plan: %s\n", text);
}

/* ---- the ops on [B,T,H,D] ---- */
static int run_ops(ocla_context *ctx) {
    const int64_t dx[4] = {B, T, H, D}, de[2] = {KP, T};
    ocla_tensor *x = NULL, *o = NULL, *E = NULL;
    int rc = 1;
    if (random_tensor(ctx, 4, dx, 0.5f, 1, &x) || ocla_tensor_create(ctx, OCLA_F32, 4, dx, &o) ||
        ocla_tensor_create(ctx, OCLA_F32, 2, de, &E) || ocla_tensor_fill(ctx, E, 1.0f / T))
        goto done;
    static const char *names[] = {"softmax (causal)", "FLASH (causal, C=256)", "Linformer (k=64)"};
    for (int op = 0; op < 3; op++) {
        ocla_status st = OCLA_SUCCESS;
        double best = 1e30;
        for (int rep = 0; rep < 3 && st == OCLA_SUCCESS; rep++) { /* the first run builds the kernels */
            double t0 = now();
            if (op == 0) {
                ocla_softmax_params p;
                ocla_softmax_params_defaults(&p);
                st = ocla_softmax_attention(ctx, &p, x, x, x, o);
            } else if (op == 1) {
                ocla_flash_params p;
                ocla_flash_params_defaults(&p);
                ocla_flash_io io = {x, x, x, x, x, o};
                st = ocla_flash_attention(ctx, &p, &io);
            } else {
                ocla_linformer_params p;
                ocla_linformer_params_defaults(&p);
                ocla_linformer_io io = {x, x, x, E, E, o};
                st = ocla_linformer_attention(ctx, &p, &io);
            }
            if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
            if (now() - t0 < best) best = now() - t0;
        }
        if (st != OCLA_SUCCESS) {
            fprintf(stderr, "%s: %s: %s\n", names[op], ocla_status_string(st), ocla_last_error(ctx));
            goto done;
        }
        printf("op    %-28s B%d T%d H%d D%d: %8.2f ms\n", names[op], B, T, H, D, 1e3 * best);
        if (op == 0) print_plan(ctx, OCLA_OP_SOFTMAX_TILED, 0);
        if (op == 1) print_plan(ctx, OCLA_OP_FLASH_CHUNK, 256);
    }
    rc = 0;
done:
    ocla_tensor_destroy(x), ocla_tensor_destroy(o), ocla_tensor_destroy(E);
    return rc;
}

/* ---- the layers on x [B,T,d_model] ---- */
static int run_layers(ocla_context *ctx) {
    const int64_t dx[3] = {B, T, DM}, dw[2] = {DM, DM}, db[1] = {DM}, de[2] = {KP, T};
    const float a = 1.0f / sqrtf((float)DM); /* keeps q, k, v and y of order 1 */
    ocla_tensor *x = NULL, *y = NULL, *wq = NULL, *wk = NULL, *wv = NULL, *wo = NULL, *bq = NULL, *bk = NULL,
                *bv = NULL, *bo = NULL, *E = NULL, *F = NULL;
    float *host = malloc((size_t)B * T * DM * sizeof *host);
    int rc = 1;
    if (!host || random_tensor(ctx, 3, dx, 1.0f, 2, &x) || ocla_tensor_create(ctx, OCLA_F32, 3, dx, &y) ||
        random_tensor(ctx, 2, dw, a, 3, &wq) || random_tensor(ctx, 2, dw, a, 4, &wk) ||
        random_tensor(ctx, 2, dw, a, 5, &wv) || random_tensor(ctx, 2, dw, a, 6, &wo) ||
        random_tensor(ctx, 1, db, 0.1f, 7, &bq) || random_tensor(ctx, 1, db, 0.1f, 8, &bk) ||
        random_tensor(ctx, 1, db, 0.1f, 9, &bv) || random_tensor(ctx, 1, db, 0.1f, 10, &bo) ||
        random_tensor(ctx, 2, de, 1.0f / sqrtf((float)T), 11, &E) ||
        random_tensor(ctx, 2, de, 1.0f / sqrtf((float)T), 12, &F))
        goto done;
    /* Weights are [in, out] (y = x W); H heads of K = V = D, so H*K = H*V = d_model here. */
    ocla_mha_layer_weights w = {0};
    w.w_q = wq, w.w_k = wk, w.w_v = wv, w.w_o = wo;
    w.b_q = bq, w.b_k = bk, w.b_v = bv, w.b_o = bo;
    static const ocla_mha_kind kinds[] = {OCLA_MHA_LINEAR, OCLA_MHA_SOFTMAX, OCLA_MHA_LINFORMER};
    static const char *names[] = {"linear (causal, elu+1)", "softmax (causal)", "Linformer (k=64)"};
    for (int l = 0; l < 3; l++) {
        ocla_mha_layer_params p;
        ocla_mha_layer_params_defaults(&p, kinds[l]); /* causal except Linformer, the kind's defaults */
        p.heads = H, p.head_k = D, p.head_v = D;
        w.E = kinds[l] == OCLA_MHA_LINFORMER ? E : NULL; /* HEADWISE sharing: E for keys, F for values */
        w.F = kinds[l] == OCLA_MHA_LINFORMER ? F : NULL;
        ocla_status st = OCLA_SUCCESS;
        double best = 1e30;
        for (int rep = 0; rep < 3 && st == OCLA_SUCCESS; rep++) {
            double t0 = now();
            st = ocla_mha_layer_forward(ctx, &p, &w, x, y);
            if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
            if (now() - t0 < best) best = now() - t0;
        }
        if (st == OCLA_SUCCESS) st = ocla_tensor_download(ctx, y, host, (size_t)B * T * DM * sizeof *host);
        if (st != OCLA_SUCCESS) {
            fprintf(stderr, "%s layer: %s: %s\n", names[l], ocla_status_string(st), ocla_last_error(ctx));
            goto done;
        }
        double sum = 0, sum_abs = 0;
        for (size_t i = 0; i < (size_t)B * T * DM; i++) sum += host[i], sum_abs += fabs(host[i]);
        printf("layer %-28s B%d T%d d%d H%d: %8.2f ms  checksum %.6e |y| %.6e\n", names[l], B, T, DM, H, 1e3 * best,
               sum, sum_abs);
    }
    rc = 0;
done:
    free(host);
    ocla_tensor *all[] = {x, y, wq, wk, wv, wo, bq, bk, bv, bo, E, F};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    return rc;
}

/* GAU / FLASH layer (Hua et al. 2022) on x [B,T,d]: defaults = LayerNorm, e = 2d, s = 128, C = 256,
 * causal, RoPE on all s dims, y = x + O. Stand-in weights; upload trained ones instead. */
static ocla_status run_gau(ocla_context *ctx, const ocla_tensor *x, ocla_tensor *y) {
    const int64_t d = ocla_tensor_dim(x, 2), e = 2 * d, s = 128;
    const int64_t wd[2] = {d, 2 * e + s}, gd[2] = {4, s}, od[2] = {e, d};
    ocla_tensor *w_uvz = NULL, *gamma = NULL, *w_o = NULL;
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, 2, wd, &w_uvz);
    if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 2, gd, &gamma);
    if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 2, od, &w_o);
    if (st == OCLA_SUCCESS) st = ocla_tensor_fill(ctx, w_uvz, 0.02f);
    if (st == OCLA_SUCCESS) st = ocla_tensor_fill(ctx, gamma, 1.0f);
    if (st == OCLA_SUCCESS) st = ocla_tensor_fill(ctx, w_o, 0.02f);
    ocla_gau_layer_params p;
    ocla_gau_layer_params_defaults(&p);
    ocla_gau_layer_weights w = {w_uvz, NULL, gamma, NULL, w_o, NULL, NULL, NULL}; /* NULL: no biases/offsets */
    if (st == OCLA_SUCCESS) st = ocla_gau_layer_forward(ctx, &p, &w, x, y);
    if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
    ocla_tensor_destroy(w_uvz), ocla_tensor_destroy(gamma), ocla_tensor_destroy(w_o);
    return st;
}

int main(int argc, char **argv) {
    ocla_context_options opts;
    ocla_context_options_defaults(&opts);
    opts.device = argc > 1 ? argv[1] : NULL;
    ocla_context *ctx = NULL;
    if (ocla_context_create(&opts, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "no context: %s\n", ocla_last_error(NULL));
        return 1;
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    printf("device: %s\n", info.device_name);
    int rc = run_ops(ctx);
    if (rc == 0) rc = run_layers(ctx);
    if (rc == 0) { /* the GAU block on [1, 1024, 256] */
        const int64_t xd[3] = {1, 1024, 256};
        ocla_tensor *x = NULL, *y = NULL;
        ocla_status st = ocla_tensor_create(ctx, OCLA_F32, 3, xd, &x);
        if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 3, xd, &y);
        if (st == OCLA_SUCCESS) st = ocla_tensor_fill(ctx, x, 0.5f);
        double t0 = now();
        if (st == OCLA_SUCCESS) st = run_gau(ctx, x, y);
        if (st == OCLA_SUCCESS) printf("layer %-28s B1 T1024 d256: %8.2f ms (first call, kernels built)\n",
                                       "GAU / FLASH (causal)", 1e3 * (now() - t0));
        else fprintf(stderr, "GAU layer: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
        rc = st == OCLA_SUCCESS ? 0 : 1;
        ocla_tensor_destroy(x), ocla_tensor_destroy(y);
    }
    if (rc) fprintf(stderr, "failed: %s\n", ocla_last_error(ctx));
    ocla_context_destroy(ctx);
    return rc;
}
