/* SPDX-License-Identifier: MIT */
/* decode: autoregressive GLA decoding with the recurrent state. Prefill a prompt with the chunked
 * form (final state out), then generate token by token with params.form = OCLA_FORM_RECURRENT and
 * T = 1, the state carried in place. Prints tokens/s. Device from argv[1] or OCLA_DEVICE.
 * (q, k, v, g come from random numbers here; a model would produce them from the last token.) */
#include <ocla/ocla.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { B = 1, H = 4, K = 64, V = 64, PROMPT = 512, STEPS = 256 };

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static void fill(float *x, size_t n, float lo, float hi, unsigned *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(*seed >> 8) / 16777216.0f;
    }
}
#define CHECK(expr)                                                                                    \
    do {                                                                                               \
        ocla_status st_ = (expr);                                                                      \
        if (st_ != OCLA_SUCCESS) {                                                                     \
            fprintf(stderr, "%s: %s: %s\n", #expr, ocla_status_string(st_), ocla_last_error(ctx));    \
            goto done;                                                                                 \
        }                                                                                              \
    } while (0)

int main(int argc, char **argv) {
    ocla_context *ctx = NULL;
    ocla_tensor *t[11] = {0};
    ocla_attn_op *op = NULL;
    int rc = 1;
    float *host = NULL, *o = NULL;
    ocla_context_options opts;
    ocla_context_options_defaults(&opts);
    opts.device = argc > 1 ? argv[1] : NULL;
    if (ocla_context_create(&opts, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "no context: %s\n", ocla_last_error(NULL));
        return 1;
    }
    ocla_device_info info;
    CHECK(ocla_context_device_info(ctx, &info));
    size_t np = (size_t)B * PROMPT * H * K, n1 = (size_t)B * H * K;
    host = malloc(np * sizeof *host);
    if (!host) goto done;
    unsigned seed = 1;
    const int64_t dp[4] = {B, PROMPT, H, K}, d1[4] = {B, 1, H, K}, ds[4] = {B, H, K, V};
    for (int i = 0; i < 4; i++) { /* prompt q, k, v, g (log gates in [-0.1, 0]) */
        CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dp, &t[i]));
        fill(host, np, i == 3 ? -0.1f : -1.0f, i == 3 ? 0.0f : 1.0f, &seed);
        CHECK(ocla_tensor_upload(ctx, t[i], host, np * sizeof *host));
    }
    for (int i = 4; i < 9; i++) CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, i < 8 ? d1 : ds, &t[i]));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dp, &t[9])); /* prompt outputs */
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, d1, &t[10])); /* a step's output (K = V) */
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = OCLA_GATE_VECTOR;
    ocla_attn_io io = {t[0], t[1], t[2], t[3], NULL, NULL, t[9], t[8], NULL};
    double t0 = now();
    CHECK(ocla_attention_forward(ctx, &p, &io)); /* prefill: chunked, final state into t[8] */
    CHECK(ocla_finish(ctx));
    double t1 = now();
    p.form = OCLA_FORM_RECURRENT;
    /* one step: the state in place (initial_state = final_state); o apart from the inputs (an output
     * may not overlap an input) */
    ocla_attn_io step = {t[4], t[5], t[6], t[7], t[8], NULL, t[10], t[8], NULL};
    CHECK(ocla_attention_prepare(ctx, &p, &step, &op)); /* plan, kernels, workspace: once */
    o = malloc(n1 * sizeof *o);
    if (!o) goto done;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 4; i < 8; i++) { /* the next token's q, k, v, g */
            fill(host, n1, i == 7 ? -0.1f : -1.0f, i == 7 ? 0.0f : 1.0f, &seed);
            CHECK(ocla_tensor_upload(ctx, t[i], host, n1 * sizeof *host));
        }
        CHECK(ocla_attention_run(op, &step)); /* enqueue only */
        CHECK(ocla_tensor_download(ctx, t[10], o, n1 * sizeof *o)); /* a model would read o here */
    }
    double t2 = now();
    printf("%s: prefill %d tokens %.2f ms (%.0f tokens/s); decode %d tokens %.2f ms (%.0f tokens/s), o[0] = %g\n",
           info.device_name, PROMPT, 1e3 * (t1 - t0), PROMPT / (t1 - t0), STEPS, 1e3 * (t2 - t1),
           STEPS / (t2 - t1), (double)o[0]);
    rc = 0;
done:
    ocla_attention_op_destroy(op);
    free(o);
    free(host);
    for (int i = 0; i < 11; i++) ocla_tensor_destroy(t[i]);
    ocla_context_destroy(ctx);
    return rc;
}
