/* SPDX-License-Identifier: MIT */
/* train_gla: fit a small GLA layer to a synthetic target on any OpenCL device, with ocla's forward,
 * backward and CLBlast projections, and print the loss falling.
 *
 * Model (one GLA attention block, no feature map, no norms; fla's gate parameterisation):
 *   Q = X Wq, K = X Wk, V = X Wv, G = logsigmoid(X Wg) / 16           (projections: ocla_linear_forward)
 *   O = GLA(Q, K, V, G)  (per head: S_t = diag(exp g_t) S_{t-1} + k_t v_t^T, o_t = K^-1/2 q_t^T S_t)
 *   Y = O Wo
 * Target: the same block with other ("teacher") weights on the same inputs. Loss: mean squared
 * error 0.5 * mean((Y - Y*)^2). Training: plain SGD on Wq, Wk, Wv, Wg, Wo with gradients from
 * ocla_linear_backward (dX, dW through CLBlast), ocla_attention_backward and
 * ocla_gate_logsigmoid_backward. The loss and dY are computed on the host (small tensors).
 * Headers: the projections and the gate, forward and backward, are <ocla/blocks.h>; the attention
 * backward and the SGD step <ocla/train.h>; <ocla/ocla.h> includes both.
 *
 * With --block gau it fits a GAU / FLASH block instead (ocla_gau_layer_forward, Hua et al. 2022: norm,
 * [U | V | Z] = silu(xn W_uvz + b), the four offset-scales of Z with RoPE, FLASH mixed chunk attention,
 * U * AV, output projection, residual) to a teacher GAU block of other weights, the same loss, with
 * every weight's gradient from ocla_gau_layer_backward (<ocla/layers.h>) and SGD on all eight.
 *
 * Usage: train-gla [device selector] [steps] [learning rate] [--block gla|gau]
 *                                                                 e.g. train-gla pocl 300 20
 *                                                                      train-gla pocl 200 2 --block gau
 *        train-gla <device> bench B T H K V [gate]     times the attention op alone, forward and
 *        forward+backward (gate: 0 none, 1 scalar, 2 vector (default), 3 fixed), as fla's
 *        benchmark does (e.g. train-gla nvidia bench 4 2048 16 128 128 2)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocla/ocla.h"

enum { B = 2, T = 64, D = 32, H = 2, DK = 16, DV = 16 };
#define TAU 16.0f

#define CHECK(x)                                                                                                     \
    do {                                                                                                             \
        ocla_status st_ = (x);                                                                                       \
        if (st_ != OCLA_SUCCESS) {                                                                                   \
            fprintf(stderr, "%s failed: %s: %s\n", #x, ocla_status_string(st_), ocla_last_error(ctx));              \
            exit(1);                                                                                                 \
        }                                                                                                            \
    } while (0)

static uint32_t rng = 12345u;
static float frand(void) { /* uniform [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return (float)((rng >> 8) * (2.0 / 16777216.0) - 1.0);
}

static ocla_context *ctx;

/* [r, c] (r = 0: a vector [c]) of uniform values in [-amp, amp), or zeros */
static ocla_tensor *tensor2(int64_t r, int64_t c, float amp) {
    int64_t dims[2] = {r, c};
    ocla_tensor *t;
    CHECK(ocla_tensor_create(ctx, OCLA_F32, r ? 2 : 1, r ? dims : &dims[1], &t));
    r = r ? r : 1;
    if (amp != 0.0f) {
        float *h = malloc((size_t)(r * c) * sizeof *h);
        for (int64_t i = 0; i < r * c; i++) h[i] = amp * frand();
        CHECK(ocla_tensor_upload(ctx, t, h, (size_t)(r * c) * sizeof *h));
        free(h);
    }
    return t;
}

/* [B*T, H*Dh] tensor seen as [B, T, H, Dh] */
static ocla_tensor *heads(const ocla_tensor *t, int64_t dh) {
    int64_t dims[4] = {B, T, H, dh}, strides[4] = {T * H * dh, H * dh, dh, 1};
    ocla_tensor *v;
    CHECK(ocla_tensor_view(ctx, t, 0, 4, dims, strides, &v));
    return v;
}

typedef struct block {
    ocla_tensor *wq, *wk, *wv, *wg, *wo;
} block;

typedef struct acts {
    ocla_tensor *q, *k, *v, *gl, *g, *o, *y;       /* [B*T, .] */
    ocla_tensor *q4, *k4, *v4, *g4, *o4;           /* [B,T,H,.] views */
} acts;

static void make_acts(acts *a) {
    a->q = tensor2(B * T, H * DK, 0), a->k = tensor2(B * T, H * DK, 0), a->v = tensor2(B * T, H * DV, 0);
    a->gl = tensor2(B * T, H * DK, 0), a->g = tensor2(B * T, H * DK, 0), a->o = tensor2(B * T, H * DV, 0);
    a->y = tensor2(B * T, D, 0);
    a->q4 = heads(a->q, DK), a->k4 = heads(a->k, DK), a->v4 = heads(a->v, DV), a->g4 = heads(a->g, DK);
    a->o4 = heads(a->o, DV);
}

static void free_acts(acts *a) {
    ocla_tensor *all[] = {a->q4, a->k4, a->v4, a->g4, a->o4, a->q, a->k, a->v, a->gl, a->g, a->o, a->y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
}

static ocla_attn_params gla_params(void) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.feature_map = OCLA_FEATURE_IDENTITY;
    p.gate = OCLA_GATE_VECTOR;
    return p;
}

static void forward(const block *w, const ocla_tensor *x, acts *a) {
    CHECK(ocla_linear_forward(ctx, x, w->wq, a->q));
    CHECK(ocla_linear_forward(ctx, x, w->wk, a->k));
    CHECK(ocla_linear_forward(ctx, x, w->wv, a->v));
    CHECK(ocla_linear_forward(ctx, x, w->wg, a->gl));
    CHECK(ocla_gate_logsigmoid(ctx, a->gl, a->g, TAU));
    ocla_attn_params p = gla_params();
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = a->q4, io.k = a->k4, io.v = a->v4, io.g = a->g4, io.o = a->o4;
    CHECK(ocla_attention_forward(ctx, &p, &io));
    CHECK(ocla_linear_forward(ctx, a->o, w->wo, a->y));
}

/* Median of 5 timed runs (after 2 warm-up runs) of the forward and of forward+backward. */
static int bench(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: train-gla <device> bench B T H K V [gate]\n");
        return 2;
    }
    const int64_t b = atoll(argv[3]), t = atoll(argv[4]), h = atoll(argv[5]), k = atoll(argv[6]), v = atoll(argv[7]);
    const int gate = argc > 8 ? atoi(argv[8]) : 2;
    int64_t dq[4] = {b, t, h, k}, dv[4] = {b, t, h, v};
    ocla_tensor *q, *kk, *vv, *o, *dout, *gq, *gk, *gv, *g = NULL, *gg = NULL;
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dq, &q));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dq, &kk));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dv, &vv));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dv, &o));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dv, &dout));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dq, &gq));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dq, &gk));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 4, dv, &gv));
    CHECK(ocla_tensor_fill(ctx, q, 0.05f));
    CHECK(ocla_tensor_fill(ctx, kk, 0.05f));
    CHECK(ocla_tensor_fill(ctx, vv, 0.1f));
    CHECK(ocla_tensor_fill(ctx, dout, 0.1f));
    if (gate == 1 || gate == 2) {
        CHECK(ocla_tensor_create(ctx, OCLA_F32, gate == 2 ? 4 : 3, dq, &g));
        CHECK(ocla_tensor_create(ctx, OCLA_F32, gate == 2 ? 4 : 3, dq, &gg));
        CHECK(ocla_tensor_fill(ctx, g, -0.05f));
    }
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = (ocla_gate_kind)gate;
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = q, io.k = kk, io.v = vv, io.g = g, io.o = o;
    ocla_attn_grad_io gi;
    memset(&gi, 0, sizeof gi);
    gi.q = q, gi.k = kk, gi.v = vv, gi.g = g, gi.d_o = dout, gi.dq = gq, gi.dk = gk, gi.dv = gv, gi.dg = gg;
    double fw[5], fb[5];
    char detail[1024] = "";
    for (int r = -2; r < 5; r++) {
        double ms;
        int n;
        CHECK(ocla_profile_begin(ctx));
        CHECK(ocla_attention_forward(ctx, &p, &io));
        CHECK(ocla_profile_end(ctx, &ms, &n));
        if (r >= 0) fw[r] = ms;
        CHECK(ocla_profile_begin(ctx));
        CHECK(ocla_attention_forward(ctx, &p, &io));
        CHECK(ocla_attention_backward(ctx, &p, &gi));
        CHECK(ocla_profile_end(ctx, &ms, &n));
        if (r >= 0) fb[r] = ms;
        if (r == 4) ocla_profile_detail(ctx, detail, sizeof detail);
    }
    for (int i = 0; i < 5; i++) /* sort for the median */
        for (int j = i + 1; j < 5; j++) {
            if (fw[j] < fw[i]) { double x = fw[i]; fw[i] = fw[j]; fw[j] = x; }
            if (fb[j] < fb[i]) { double x = fb[i]; fb[i] = fb[j]; fb[j] = x; }
        }
    printf("B=%lld T=%lld H=%lld K=%lld V=%lld gate %d: forward %.3f ms, forward+backward %.3f ms (medians of 5)\n",
           (long long)b, (long long)t, (long long)h, (long long)k, (long long)v, gate, fw[2], fb[2]);
    printf("last forward+backward by kernel: %s\n", detail);
    ocla_tensor *all[] = {q, kk, vv, o, dout, gq, gk, gv, g, gg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    ocla_context_destroy(ctx);
    return 0;
}

/* The loss 0.5 mean((y - target)^2) of the model's output y (n values, downloaded into yh), printed on
 * ten of the steps; its gradient (y - target) / n into dy (through dyh). */
static double loss_and_dy(int step, int steps, const ocla_tensor *y, const float *target, float *yh, float *dyh,
                          ocla_tensor *dy, size_t n) {
    CHECK(ocla_tensor_download(ctx, y, yh, n * sizeof *yh));
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)yh[i] - target[i];
        loss += 0.5 * e * e / (double)n;
        dyh[i] = (float)(e / (double)n);
    }
    if (step % (steps >= 10 ? steps / 10 : 1) == 0) printf("step %4d  loss %.6g\n", step, loss);
    CHECK(ocla_tensor_upload(ctx, dy, dyh, n * sizeof *dyh));
    return loss;
}

/* ---- the GAU block (--block gau) ---- */
enum { GAU_E = 2 * D, GAU_S = 32, GAU_W = 2 * GAU_E + GAU_S, GAU_NW = 8 };

/* The eight weights of ocla_gau_layer_weights, in its order (the norm's gain around 1); rows 0: a vector. */
static void gau_make(ocla_tensor *w[GAU_NW], float gamma_amp) {
    const int64_t rows[GAU_NW] = {D, 0, 4, 4, GAU_E, 0, 0, 0}, cols[GAU_NW] = {GAU_W, GAU_W, GAU_S, GAU_S, D, D, D, D};
    const float amp[GAU_NW] = {1.0f / sqrtf((float)D), 0.1f, gamma_amp, 0.1f, 1.0f / sqrtf((float)GAU_E), 0.1f, 0.2f, 0.1f};
    for (int i = 0; i < GAU_NW; i++) w[i] = tensor2(rows[i], cols[i], amp[i]);
    float one[D];
    for (int i = 0; i < D; i++) one[i] = 1.0f + amp[6] * frand();
    CHECK(ocla_tensor_upload(ctx, w[6], one, sizeof one));
}

static ocla_gau_layer_weights gau_weights(ocla_tensor *const w[GAU_NW]) {
    return (ocla_gau_layer_weights){w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]};
}

static int train_gau(int steps, float lr) {
    ocla_gau_layer_params p;
    ocla_gau_layer_params_defaults(&p);
    p.hidden_dim = GAU_E, p.qk_dim = GAU_S, p.flash.rope_dims = GAU_S;
    p.flash.chunk = 16; /* T = 64: four chunks, so both the quadratic and the linear part train */
    printf("block: GAU, d %d, e %d, s %d, chunk %d, LayerNorm, RoPE, residual\n", D, GAU_E, GAU_S, p.flash.chunk);
    int64_t xd[3] = {B, T, D};
    ocla_tensor *x, *y, *dy, *teacher[GAU_NW], *student[GAU_NW], *grad[GAU_NW];
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 3, xd, &x));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 3, xd, &y));
    CHECK(ocla_tensor_create(ctx, OCLA_F32, 3, xd, &dy));
    const size_t ny = (size_t)B * T * D;
    float *target = malloc(ny * sizeof *target), *yh = malloc(ny * sizeof *yh), *dyh = malloc(ny * sizeof *dyh);
    for (size_t i = 0; i < ny; i++) yh[i] = frand();
    CHECK(ocla_tensor_upload(ctx, x, yh, ny * sizeof *yh));
    gau_make(teacher, 1.5f), gau_make(student, 1.5f);
    for (int i = 0; i < GAU_NW; i++) {
        const int nd = ocla_tensor_ndim(student[i]);
        grad[i] = tensor2(nd == 2 ? ocla_tensor_dim(student[i], 0) : 0, ocla_tensor_dim(student[i], nd - 1), 0);
    }
    ocla_gau_layer_weights tw = gau_weights(teacher), sw = gau_weights(student);
    const ocla_gau_layer_grads g = {grad[0], grad[1], grad[2], grad[3], grad[4], grad[5], grad[6], grad[7], NULL};
    CHECK(ocla_gau_layer_forward(ctx, &p, &tw, x, y));
    CHECK(ocla_tensor_download(ctx, y, target, ny * sizeof *target));
    printf("fitting %d steps of SGD\n", steps);
    double first = 0, last = 0;
    for (int step = 0; step <= steps; step++) {
        CHECK(ocla_gau_layer_forward(ctx, &p, &sw, x, y));
        const double loss = loss_and_dy(step, steps, y, target, yh, dyh, dy, ny);
        if (step == 0) first = loss;
        last = loss;
        if (step == steps) break;
        CHECK(ocla_gau_layer_backward(ctx, &p, &sw, x, dy, NULL, &g)); /* x is data: no dx */
        for (int i = 0; i < GAU_NW; i++) CHECK(ocla_sgd_step(ctx, student[i], grad[i], lr));
    }
    CHECK(ocla_finish(ctx));
    printf("loss %.6g -> %.6g (%.1fx lower)\n", first, last, last > 0 ? first / last : INFINITY);
    free(target), free(yh), free(dyh);
    for (int i = 0; i < GAU_NW; i++)
        ocla_tensor_destroy(teacher[i]), ocla_tensor_destroy(student[i]), ocla_tensor_destroy(grad[i]);
    ocla_tensor_destroy(x), ocla_tensor_destroy(y), ocla_tensor_destroy(dy);
    ocla_context_destroy(ctx);
    return last < first ? 0 : 1;
}

/* Takes "--block NAME" out of argv; returns NAME, or "gla". */
static const char *take_block(int *argc, char **argv) {
    for (int i = 1; i + 1 < *argc; i++)
        if (!strcmp(argv[i], "--block")) {
            const char *name = argv[i + 1];
            for (int j = i; j + 2 <= *argc; j++) argv[j] = argv[j + 2];
            *argc -= 2;
            return name;
        }
    return "gla";
}

int main(int argc, char **argv) {
    const char *which = take_block(&argc, argv);
    if (strcmp(which, "gla") && strcmp(which, "gau")) {
        fprintf(stderr, "--block %s: gla or gau\n", which);
        return 2;
    }
    ocla_context_options opt;
    ocla_context_options_defaults(&opt);
    opt.device = argc > 1 ? argv[1] : NULL;
    opt.profiling = 1;
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    ocla_status st = ocla_context_create(&opt, &ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "no context: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL));
        return 1;
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    printf("device: %s / %s\n", info.platform_name, info.device_name);
    if (argc > 2 && !strcmp(argv[2], "bench")) return bench(argc, argv);
    if (!strcmp(which, "gau")) return train_gau(steps, argc > 3 ? (float)atof(argv[3]) : 2.0f);

    const float wscale = 1.0f / sqrtf((float)D);
    ocla_tensor *x = tensor2(B * T, D, 1.0f);
    block teacher = {tensor2(D, H * DK, wscale), tensor2(D, H * DK, wscale), tensor2(D, H * DV, wscale),
                     tensor2(D, H * DK, 4 * wscale), tensor2(H * DV, D, 1.0f / sqrtf((float)(H * DV)))};
    block student = {tensor2(D, H * DK, wscale), tensor2(D, H * DK, wscale), tensor2(D, H * DV, wscale),
                     tensor2(D, H * DK, 4 * wscale), tensor2(H * DV, D, 1.0f / sqrtf((float)(H * DV)))};
    block grad = {tensor2(D, H * DK, 0), tensor2(D, H * DK, 0), tensor2(D, H * DV, 0), tensor2(D, H * DK, 0),
                  tensor2(H * DV, D, 0)};
    acts ta, sa, gr; /* teacher activations, student activations, gradients of the student's */
    make_acts(&ta), make_acts(&sa), make_acts(&gr);
    ocla_tensor *dy = tensor2(B * T, D, 0);

    forward(&teacher, x, &ta);
    const size_t ny = (size_t)B * T * D;
    float *target = malloc(ny * sizeof *target), *y = malloc(ny * sizeof *y), *dyh = malloc(ny * sizeof *dyh);
    CHECK(ocla_tensor_download(ctx, ta.y, target, ny * sizeof *target));
    double var = 0;
    for (size_t i = 0; i < ny; i++) var += (double)target[i] * target[i];
    printf("target mean square %.4g; fitting %d steps of SGD\n", var / (double)ny, steps);

    const float lr = argc > 3 ? (float)atof(argv[3]) : 20.0f;
    double first = 0, last = 0;
    for (int step = 0; step <= steps; step++) {
        forward(&student, x, &sa);
        const double loss = loss_and_dy(step, steps, sa.y, target, y, dyh, dy, ny);
        if (step == 0) first = loss;
        last = loss;
        if (step == steps) break;
        /* Y = O Wo */
        CHECK(ocla_linear_backward(ctx, sa.o, student.wo, dy, gr.o, grad.wo, 0));
        /* O = GLA(Q, K, V, G) */
        ocla_attn_params p = gla_params();
        ocla_attn_grad_io io;
        memset(&io, 0, sizeof io);
        io.q = sa.q4, io.k = sa.k4, io.v = sa.v4, io.g = sa.g4, io.d_o = gr.o4;
        io.dq = gr.q4, io.dk = gr.k4, io.dv = gr.v4, io.dg = gr.g4;
        CHECK(ocla_attention_backward(ctx, &p, &io));
        /* G = logsigmoid(X Wg) / tau */
        CHECK(ocla_gate_logsigmoid_backward(ctx, sa.gl, gr.g, gr.gl, TAU));
        /* projections from X (X is data: no dX) */
        CHECK(ocla_linear_backward(ctx, x, student.wq, gr.q, NULL, grad.wq, 0));
        CHECK(ocla_linear_backward(ctx, x, student.wk, gr.k, NULL, grad.wk, 0));
        CHECK(ocla_linear_backward(ctx, x, student.wv, gr.v, NULL, grad.wv, 0));
        CHECK(ocla_linear_backward(ctx, x, student.wg, gr.gl, NULL, grad.wg, 0));
        CHECK(ocla_sgd_step(ctx, student.wq, grad.wq, lr));
        CHECK(ocla_sgd_step(ctx, student.wk, grad.wk, lr));
        CHECK(ocla_sgd_step(ctx, student.wv, grad.wv, lr));
        CHECK(ocla_sgd_step(ctx, student.wg, grad.wg, lr));
        CHECK(ocla_sgd_step(ctx, student.wo, grad.wo, lr));
    }
    CHECK(ocla_finish(ctx));
    printf("loss %.6g -> %.6g (%.1fx lower)\n", first, last, last > 0 ? first / last : INFINITY);

    free(target), free(y), free(dyh);
    free_acts(&ta), free_acts(&sa), free_acts(&gr);
    block *bs[3] = {&teacher, &student, &grad};
    for (int i = 0; i < 3; i++) {
        ocla_tensor_destroy(bs[i]->wq), ocla_tensor_destroy(bs[i]->wk), ocla_tensor_destroy(bs[i]->wv);
        ocla_tensor_destroy(bs[i]->wg), ocla_tensor_destroy(bs[i]->wo);
    }
    ocla_tensor_destroy(dy), ocla_tensor_destroy(x);
    ocla_context_destroy(ctx);
    return last < first ? 0 : 1;
}
