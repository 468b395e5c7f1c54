/* SPDX-License-Identifier: MIT */
/* embed: the smallest complete use of ocla from an application. One GLA layer (fla's
 * GatedLinearAttention) on any OpenCL device; every error is reported and cleaned up.
 * Usage: embed [device selector]   (default: OCLA_DEVICE, else the first GPU, else device 0) */
#include <stdio.h>
#include <stdlib.h>

#include <ocla/ocla.h>

enum { B = 2, T = 128, D = 64, H = 4, K = 16, V = 16, R = 16 };
#define TRY(call)                                                                                    \
    if ((st = (call)) != OCLA_SUCCESS) goto fail

static ocla_status weight(ocla_context *ctx, int64_t rows, int64_t cols, float scale, ocla_tensor **t) {
    int64_t dims[2] = {rows, cols}, n = rows * (cols ? cols : 1); /* cols 0: a vector */
    float *host = malloc(sizeof(float) * n);
    if (!host) return OCLA_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) host[i] = scale * ((float)rand() / (float)RAND_MAX - 0.5f);
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, cols ? 2 : 1, dims, t);
    if (st == OCLA_SUCCESS) st = ocla_tensor_upload(ctx, *t, host, sizeof(float) * n);
    free(host);
    return st;
}

int main(int argc, char **argv) {
    ocla_context_options opt;
    ocla_context_options_defaults(&opt);
    opt.device = argc > 1 ? argv[1] : NULL;
    ocla_context *ctx = NULL;
    ocla_tensor *w[9] = {0}, *x = NULL, *y = NULL;
    static float out[B * T * D];
    ocla_status st = ocla_context_create(&opt, &ctx);
    if (st != OCLA_SUCCESS) return fprintf(stderr, "embed: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL)), 1;
    int64_t shape[3] = {B, T, D}, rows[9] = {D, D, D, D, D, R, H * K, V, H * V}, cols[9] = {H * K, H * K, H * V, H * V,
                                                                                         R, H * K, 0, 0, D};
    for (int i = 0; i < 9; i++) TRY(weight(ctx, rows[i], cols[i], i == 7 ? 0.0f : 0.3f, &w[i]));
    TRY(ocla_tensor_fill(ctx, w[7], 1.0f)); /* RMSNorm weight */
    TRY(weight(ctx, B * T, D, 2.0f, &x)); /* the input, [B*T, D]; viewed as [B, T, D] below */
    TRY(ocla_tensor_create(ctx, OCLA_F32, 3, shape, &y));
    ocla_gla_layer_weights lw = {w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]};
    ocla_gla_layer_params p;
    ocla_gla_layer_params_defaults(&p);
    p.heads = H, p.head_k = K, p.head_v = V;
    ocla_tensor *x3 = NULL;
    TRY(ocla_tensor_view(ctx, x, 0, 3, shape, NULL, &x3));
    st = ocla_gla_layer_forward(ctx, &p, &lw, x3, y);
    ocla_tensor_destroy(x3);
    if (st != OCLA_SUCCESS) goto fail;
    TRY(ocla_tensor_download(ctx, y, out, sizeof out));
    printf("embed: GLA layer [%d,%d,%d] ok, y[0] = %.6f, y[last] = %.6f\n", B, T, D, out[0], out[B * T * D - 1]);
fail:
    if (st != OCLA_SUCCESS) fprintf(stderr, "embed: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
    for (int i = 0; i < 9; i++) ocla_tensor_destroy(w[i]);
    ocla_tensor_destroy(x), ocla_tensor_destroy(y);
    ocla_context_destroy(ctx);
    return st == OCLA_SUCCESS ? 0 : 1;
}
