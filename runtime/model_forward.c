/* SPDX-License-Identifier: MIT */
/* The GLA language model on a device (include/ocla/model.h, "Running the model"): a session holds
 * the weights of a loaded checkpoint on the context's device, the layers' recurrent states, and its
 * own activations (grown on demand, never shrunk). A forward pass over B x T tokens: the embedding
 * gather, per layer the residual add fused with RMSNorm (kernels_cl/model.cl), the GLA layer
 * (ocla_gla_layer_forward: chunked for a prefill, recurrent for a step, from and into the layer's
 * state), the MLP (two CLBlast projections, the SwiGLU product, the down projection), then the final
 * norm of the rows whose logits are asked for and the LM head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_bwd_common.h" /* ocla__layer_fill */
#include "layer_common.h"
#include "model_internal.h"

#define FN_CREATE "ocla_model_session_create"

typedef ocla__model_layer model_layer; /* model_internal.h */
typedef ocla__model_rows batch_rows;

/* An activation buffer: a dense 1-D tensor of cap floats, replaced by a larger one when a call needs it. */
typedef struct act_buf {
    ocla_tensor *t;
    int64_t cap;
} act_buf;

struct ocla_model_session {
    ocla_context *ctx;
    int64_t B, d, vocab, I, H, K, V, L;
    float eps, tau;
    ocla_tensor *embed, *head, *final_norm; /* [vocab, d], [d, vocab], [d] */
    model_layer *layers;
    act_buf x, h, a, g, u, logits; /* residual stream, normed input, block output, MLP gate and up, logits */
    cl_mem ids;                     /* int32 token ids */
    int64_t ids_cap;
    size_t lanes; /* local size of model_add_rmsnorm */
    int options;  /* the config sets fla's options: layers run ocla__model_attn_forward (runtime/model_attn.c) */
    ocla__model_attn attn;
};

/* ---- weights ---- */

static ocla_status upload(ocla_context *ctx, const float *host, int ndim, const int64_t *dims, ocla_tensor **out) {
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, ndim, dims, out);
    if (st != OCLA_SUCCESS) return st;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    return ocla_tensor_upload(ctx, *out, host, (size_t)n * sizeof(float));
}

static ocla_status get(ocla_context *ctx, const ocla_model *m, const char *name, ocla_model_tensor *t) {
    if (ocla_model_tensor_get(m, name, t) != OCLA_SUCCESS)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN_CREATE ": the model has no tensor '%s'", name);
    return OCLA_SUCCESS;
}

/* A checkpoint's nn.Linear weight [rows, in] as [in, rows * G], G > 1 widening grouped heads of D
 * columns as fla's repeat('... (h d) -> ... (h g) d'): output head h * G + j is input head h. A
 * vector (ndim 1, in = 1) is widened the same way. */
static ocla_status upload_linear(ocla_context *ctx, const ocla_model *m, const char *name, int64_t G, int64_t D,
                                 ocla_tensor **out) {
    ocla_model_tensor t;
    ocla_status st = get(ctx, m, name, &t);
    if (st != OCLA_SUCCESS) return st;
    /* in: 1 for a vector, the kernel taps of a depthwise Conv1d [rows, 1, W] (then [W, rows * G]) */
    const int64_t rows = t.dims[0], in = rows > 0 ? t.numel / rows : 1, cols = rows * G;
    float *buf = malloc((size_t)(in * cols) * sizeof(float) + 1);
    if (!buf) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, FN_CREATE ": host memory for '%s'", name);
    for (int64_t o = 0; o < cols; o++) {
        const int64_t src = G == 1 ? o : (o / (G * D)) * D + o % D;
        for (int64_t i = 0; i < in; i++) buf[i * cols + o] = t.data[src * in + i];
    }
    const int64_t dims[2] = {in, cols};
    st = t.ndim >= 2 ? upload(ctx, buf, 2, dims, out) : upload(ctx, buf, 1, &cols, out);
    free(buf);
    return st;
}

/* A vector weight as stored, or n ones when name is NULL (a norm without an affine weight). */
static ocla_status upload_vector(ocla_context *ctx, const ocla_model *m, const char *name, int64_t n,
                                 ocla_tensor **out) {
    if (name) {
        ocla_model_tensor t;
        ocla_status st = get(ctx, m, name, &t);
        return st != OCLA_SUCCESS ? st : upload(ctx, t.data, 1, &t.numel, out);
    }
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, 1, &n, out);
    return st != OCLA_SUCCESS ? st : ocla_tensor_fill(ctx, *out, 1.0f);
}

static ocla_status upload_layer(ocla_model_session *s, const ocla_model *m, const ocla_gla_config *c, int64_t l) {
    model_layer *ly = &s->layers[l];
    ocla_context *ctx = s->ctx;
    const int64_t G = c->num_heads / c->num_kv_heads, K = s->K, V = s->V;
    char n[14][112];
    static const char *const fmt[14] = {"attn_norm.weight",      "mlp_norm.weight",     "attn.q_proj.weight",
                                        "attn.k_proj.weight",    "attn.v_proj.weight",  "attn.g_proj.weight",
                                        "attn.gk_proj.0.weight", "attn.gk_proj.1.weight", "attn.gk_proj.1.bias",
                                        "attn.o_proj.weight",    "mlp.gate_proj.weight", "mlp.up_proj.weight",
                                        "mlp.down_proj.weight",  NULL};
    for (int i = 0; fmt[i]; i++) snprintf(n[i], sizeof n[i], "model.layers.%lld.%s", (long long)l, fmt[i]);
    snprintf(n[13], sizeof n[13], "model.layers.%lld.attn.%s.weight", (long long)l,
             c->fuse_norm && c->use_output_gate ? "g_norm_swish_gate" : "g_norm");
    const int64_t sdims[4] = {s->B, s->H, K, V};
    ocla_status st;
    if (c->use_short_conv) { /* depthwise [C, 1, W] as [W, C], k and v widened like their projections */
        static const char qkv[3] = {'q', 'k', 'v'};
        const int64_t W = c->conv_size;
        for (int i = 0; i < 3; i++) {
            char cn[112];
            snprintf(cn, sizeof cn, "model.layers.%lld.attn.%c_conv1d.weight", (long long)l, qkv[i]);
            const int64_t D = i == 2 ? V : K, cdims[3] = {s->B, W > 1 ? W - 1 : 1, s->H * D};
            if ((st = upload_linear(ctx, m, cn, i ? G : 1, D, &ly->conv_w[i])) != OCLA_SUCCESS ||
                (st = ocla_tensor_create(ctx, OCLA_F32, 3, cdims, &ly->conv_state[i])) != OCLA_SUCCESS)
                return st;
        }
    }
    if ((st = upload_vector(ctx, m, n[0], 0, &ly->attn_norm)) != OCLA_SUCCESS ||
        (st = upload_vector(ctx, m, n[1], 0, &ly->mlp_norm)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[2], 1, K, &ly->wq)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[3], G, K, &ly->wk)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[4], G, V, &ly->wv)) != OCLA_SUCCESS ||
        (c->use_output_gate && (st = upload_linear(ctx, m, n[5], 1, V, &ly->wr)) != OCLA_SUCCESS) ||
        (st = upload_linear(ctx, m, n[6], 1, 1, &ly->wg1)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[7], G, K, &ly->wg2)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[8], G, K, &ly->bg2)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[9], 1, 1, &ly->wo)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[10], 1, 1, &ly->w_gate)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[11], 1, 1, &ly->w_up)) != OCLA_SUCCESS ||
        (st = upload_linear(ctx, m, n[12], 1, 1, &ly->w_down)) != OCLA_SUCCESS ||
        (st = upload_vector(ctx, m, c->elementwise_affine ? n[13] : NULL, V, &ly->gnorm)) != OCLA_SUCCESS)
        return st;
    return ocla_tensor_create(ctx, OCLA_F32, 4, sdims, &ly->state);
}

/* What the session cannot run: OCLA_ERR_UNSUPPORTED naming the option and its value. */
static ocla_status check_config(ocla_context *ctx, const ocla_gla_config *c) {
    if (c->feature_map < OCLA_MODEL_FMAP_NONE || c->feature_map > OCLA_MODEL_FMAP_GELU)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN_CREATE ": feature_map = %d is not an ocla_model_feature_map",
                          (int)c->feature_map);
    if (c->use_short_conv && (c->conv_size < 1 || c->conv_size > INT32_MAX / 2))
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN_CREATE ": conv_size = %lld (ocla runs 1 .. %d)",
                          (long long)c->conv_size, INT32_MAX / 2);
    if (c->hidden_size > INT32_MAX || c->intermediate_size > INT32_MAX || c->vocab_size > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN_CREATE ": sizes beyond the kernels' int range");
    return OCLA_SUCCESS;
}

static void free_session(ocla_model_session *s) {
    if (!s) return;
    if (s->layers)
        for (int64_t l = 0; l < s->L; l++) {
            ocla_tensor **t = &s->layers[l].attn_norm;
            for (size_t i = 0; i < sizeof(model_layer) / sizeof(ocla_tensor *); i++) ocla_tensor_destroy(t[i]);
        }
    free(s->layers);
    ocla__model_attn_free(&s->attn);
    ocla_tensor *own[] = {s->embed, s->head, s->final_norm, s->x.t, s->h.t, s->a.t, s->g.t, s->u.t, s->logits.t};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) ocla_tensor_destroy(own[i]);
    if (s->ids) clReleaseMemObject(s->ids);
    free(s);
}

/* The local size of model_add_rmsnorm: the largest power of two <= min(128, the kernel's limit). */
static ocla_status norm_lanes(ocla_model_session *s) {
    ocla_args a;
    uint64_t wg = 0, lm = 0;
    ocla_status st = ocla__layer_kernel(s->ctx, &ocla__fam_model, "model_add_rmsnorm", &a);
    if (st == OCLA_SUCCESS) st = ocla__kernel_limits(s->ctx, a.k, &wg, &lm);
    if (st != OCLA_SUCCESS) return st;
    s->lanes = 1;
    while (s->lanes * 2 <= 128 && s->lanes * 2 <= wg) s->lanes *= 2;
    return OCLA_SUCCESS;
}

static ocla_status create(ocla_context *ctx, const ocla_model *model, int batch, ocla_model_session **out) {
    const ocla_gla_config *c = ocla_model_config(model);
    if (!c) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN_CREATE ": model has no config");
    if (batch < 1) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN_CREATE ": batch %d < 1", batch);
    ocla_status st = check_config(ctx, c);
    if (st != OCLA_SUCCESS) return st;
    ocla_model_session *s = calloc(1, sizeof *s);
    if (!s) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, FN_CREATE ": host memory");
    *s = (ocla_model_session){.ctx = ctx, .B = batch, .d = c->hidden_size, .vocab = c->vocab_size,
                              .I = c->intermediate_size, .H = c->num_heads, .K = c->head_k_dim,
                              .V = c->head_v_dim, .L = c->num_hidden_layers, .eps = c->norm_eps,
                              .tau = c->gate_logit_normalizer, .options = ocla__model_attn_needed(c)};
    s->layers = calloc((size_t)s->L + 1, sizeof *s->layers);
    if (!s->layers) st = ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, FN_CREATE ": host memory");
    for (int64_t l = 0; st == OCLA_SUCCESS && l < s->L; l++) st = upload_layer(s, model, c, l);
    ocla_model_tensor e;
    if (st == OCLA_SUCCESS && (st = get(ctx, model, "model.embeddings.weight", &e)) == OCLA_SUCCESS &&
        (st = upload(ctx, e.data, 2, e.dims, &s->embed)) == OCLA_SUCCESS &&
        (st = upload_linear(ctx, model, c->tie_word_embeddings ? "model.embeddings.weight" : "lm_head.weight", 1, 1,
                            &s->head)) == OCLA_SUCCESS &&
        (st = upload_vector(ctx, model, "model.norm.weight", 0, &s->final_norm)) == OCLA_SUCCESS)
        st = norm_lanes(s);
    s->attn = (ocla__model_attn){.feature_map = (int)c->feature_map, .has_clamp = c->has_clamp_min,
                                 .clamp_min = c->clamp_min, .use_output_gate = c->use_output_gate,
                                 .W = c->use_short_conv ? c->conv_size : 0, .H = s->H, .K = s->K, .V = s->V,
                                 .eps = s->eps, .tau = s->tau, .lanes = s->lanes};
    if (st != OCLA_SUCCESS) {
        free_session(s);
        return st;
    }
    *out = s;
    return OCLA_SUCCESS;
}

ocla_status ocla_model_session_create(ocla_context *ctx, const ocla_model *model, int batch,
                                      ocla_model_session **out) {
    if (out) *out = NULL;
    OCLA__LOCKED_CALL(FN_CREATE, ctx, model, out, create(ctx, model, batch, out));
}

void ocla_model_session_free(ocla_model_session *session) {
    if (!session) return;
    ocla_context *ctx = session->ctx;
    OCLA_LOCK(ctx);
    free_session(session);
    OCLA_UNLOCK(ctx);
}

int64_t ocla_model_session_vocab(const ocla_model_session *session) { return session ? session->vocab : 0; }
int ocla_model_session_batch(const ocla_model_session *session) { return session ? (int)session->B : 0; }

static ocla_status reset(ocla_model_session *s) {
    for (int64_t l = 0; l < s->L; l++) {
        ocla_status st = ocla_tensor_fill(s->ctx, s->layers[l].state, 0.0f);
        for (int i = 0; i < 3 && st == OCLA_SUCCESS; i++)
            if (s->layers[l].conv_state[i]) st = ocla_tensor_fill(s->ctx, s->layers[l].conv_state[i], 0.0f);
        if (st != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

ocla_status ocla_model_reset(ocla_model_session *session) {
    if (!session) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_reset: session is NULL");
    OCLA__LOCKED_CALL("ocla_model_reset", session->ctx, session, session, reset(session));
}

/* ---- the forward pass ---- */

static ocla_status ensure(ocla_model_session *s, act_buf *b, int64_t n) {
    if (b->cap >= n) return OCLA_SUCCESS;
    ocla_tensor_destroy(b->t);
    b->t = NULL, b->cap = 0;
    const ocla_status st = ocla_tensor_create(s->ctx, OCLA_F32, 1, &n, &b->t);
    if (st == OCLA_SUCCESS) b->cap = n;
    return st;
}

/* The dense [d0, d1, d2] (d2 = 0: [d0, d1]) view of a buffer's first elements, on the stack. */
static struct ocla_tensor view(const act_buf *b, int64_t d0, int64_t d1, int64_t d2) {
    struct ocla_tensor v = *b->t;
    v.offset = 0;
    if (d2) {
        v.ndim = 3, v.dims[0] = d0, v.dims[1] = d1, v.dims[2] = d2;
        v.strides[0] = d1 * d2, v.strides[1] = d2, v.strides[2] = 1;
    } else {
        v.ndim = 2, v.dims[0] = d0, v.dims[1] = d1, v.strides[0] = d1, v.strides[1] = 1;
    }
    return v;
}

ocla_status ocla__model_upload_ints(ocla_context *ctx, cl_mem *buf, int64_t *cap, const int32_t *v, int64_t n,
                                    const char *what) {
    cl_int err = CL_SUCCESS;
    if (*cap < n) {
        if (*buf) clReleaseMemObject(*buf);
        *cap = 0;
        *buf = clCreateBuffer(ocla_context_cl(ctx), CL_MEM_READ_ONLY, (size_t)n * sizeof(cl_int), NULL, &err);
        if (err != CL_SUCCESS) return *buf = NULL, ocla__cl_fail(ctx, err, "clCreateBuffer", what);
        *cap = n;
    }
    err = clEnqueueWriteBuffer(ocla_context_queue(ctx), *buf, CL_TRUE, 0, (size_t)n * sizeof(cl_int), v, 0, NULL, NULL);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", what);
}

static ocla_status upload_ids(ocla_model_session *s, const int32_t *tokens, int64_t n) {
    return ocla__model_upload_ints(s->ctx, &s->ids, &s->ids_cap, tokens, n, "token ids");
}

ocla_status ocla__model_rmsnorm(ocla_context *ctx, size_t lanes, int64_t rows, int64_t d, float eps, int64_t first,
                                int64_t step, int has_add, ocla_tensor *x, const ocla_tensor *a, const ocla_tensor *w,
                                ocla_tensor *y) {
    ocla_args k;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_model, "model_add_rmsnorm", &k);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&k, rows), ocla__push_int(&k, d), ocla__push_float(&k, eps);
    ocla__push_int(&k, first), ocla__push_int(&k, step), ocla__push_int(&k, has_add);
    ocla__push_tensor(&k, x, NULL, 0), ocla__push_tensor(&k, a, NULL, 0);
    ocla__push_tensor(&k, w, NULL, 0), ocla__push_tensor(&k, y, NULL, 0);
    ocla__push_local(&k, lanes * sizeof(float));
    const size_t global = (size_t)rows * lanes;
    return ocla__layer_launch(&k, 1, &global, &lanes, "model RMSNorm");
}

/* y rows i < rows = RMSNorm(x row first + i * step (+= a's row when has_add)) * w, on the residual stream */
static ocla_status add_rmsnorm(ocla_model_session *s, int64_t rows, int64_t first, int64_t step, int has_add,
                               const ocla_tensor *w, ocla_tensor *y) {
    return ocla__model_rmsnorm(s->ctx, s->lanes, rows, s->d, s->eps, first, step, has_add, s->x.t, s->a.t, w, y);
}

static ocla_status elementwise(ocla_model_session *s, const char *kernel, int64_t n, int d, cl_mem ids,
                               const ocla_tensor *in, ocla_tensor *out) {
    ocla_args a;
    ocla_status st = ocla__layer_kernel(s->ctx, &ocla__fam_model, kernel, &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_long(&a, n);
    if (ids) ocla__push_int(&a, d), ocla__push_mem(&a, ids);
    if (ids) /* model_embed(n, d, ids, E, x) */
        ocla__push_tensor(&a, in, NULL, 0), ocla__push_tensor(&a, out, NULL, 0);
    else /* model_swiglu(n, g (in place), u) */
        ocla__push_tensor(&a, out, NULL, 0), ocla__push_tensor(&a, in, NULL, 0);
    const size_t global = (size_t)n;
    return ocla__layer_launch(&a, 1, &global, NULL, kernel);
}

static ocla_status layer(ocla_model_session *s, const model_layer *ly, const batch_rows *b, ocla_attn_form form,
                         int has_add) {
    const int64_t R = b->B * b->T;
    struct ocla_tensor h3 = view(&s->h, b->B, b->T, s->d), a3 = view(&s->a, b->B, b->T, s->d);
    struct ocla_tensor h2 = view(&s->h, R, s->d, 0), a2 = view(&s->a, R, s->d, 0);
    struct ocla_tensor g2 = view(&s->g, R, s->I, 0), u2 = view(&s->u, R, s->I, 0);
    ocla_gla_layer_params p;
    ocla_gla_layer_params_defaults(&p);
    p.heads = (int)s->H, p.head_k = (int)s->K, p.head_v = (int)s->V, p.gate_tau = s->tau, p.norm_eps = s->eps;
    p.form = form, p.initial_state = ly->state, p.final_state = ly->state;
    p.cu_seqlens = b->cu, p.n_seqs = b->n_seqs, p.state_slots = b->slots, p.n_state_slots = b->n_slots;
    const ocla_gla_layer_weights w = {.w_q = ly->wq, .w_k = ly->wk, .w_v = ly->wv, .w_r = ly->wr, .w_g1 = ly->wg1,
                                      .w_g2 = ly->wg2, .b_g2 = ly->bg2, .norm_w = ly->gnorm, .w_o = ly->wo};
    ocla_status st;
    if ((st = add_rmsnorm(s, R, 0, 1, has_add, ly->attn_norm, &h2)) != OCLA_SUCCESS ||
        (st = s->options ? ocla__model_attn_forward(s->ctx, &s->attn, ly, b, form, &h3, &a3)
                         : ocla_gla_layer_forward(s->ctx, &p, &w, &h3, &a3)) != OCLA_SUCCESS ||
        (st = add_rmsnorm(s, R, 0, 1, 1, ly->mlp_norm, &h2)) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(s->ctx, &h2, ly->w_gate, &g2)) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(s->ctx, &h2, ly->w_up, &u2)) != OCLA_SUCCESS ||
        (st = elementwise(s, "model_swiglu", R * s->I, 0, NULL, &u2, &g2)) != OCLA_SUCCESS)
        return st;
    return ocla_linear_forward(s->ctx, &g2, ly->w_down, &a2);
}

/* The final norm of the rows whose logits are asked for (each sequence's last, or all: out_rows),
 * into h's first rows. */
static ocla_status final_norm(ocla_model_session *s, const batch_rows *b, int all, int64_t out_rows) {
    struct ocla_tensor h2 = view(&s->h, out_rows, s->d, 0);
    if (all || !b->cu) return add_rmsnorm(s, out_rows, all ? 0 : b->T - 1, all ? 1 : b->T, s->L > 0, s->final_norm, &h2);
    for (int i = 0; i < b->n_seqs; i++) { /* packed: sequence i's last token, one row each */
        struct ocla_tensor row = view(&s->h, 1, s->d, 0);
        row.offset = (size_t)i * (size_t)s->d;
        const ocla_status st = add_rmsnorm(s, 1, b->cu[i + 1] - 1, 1, s->L > 0, s->final_norm, &row);
        if (st != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

static ocla_status forward(ocla_model_session *s, const char *fn, const int32_t *tokens, const batch_rows *b,
                           ocla_attn_form form, ocla_model_logits which, float *logits) {
    const int64_t T = b->T;
    if (!tokens) return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: tokens is NULL", fn);
    if (which != OCLA_MODEL_LOGITS_NONE && which != OCLA_MODEL_LOGITS_LAST && which != OCLA_MODEL_LOGITS_ALL)
        return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: which = %d is not an ocla_model_logits", fn,
                          (int)which);
    if (which != OCLA_MODEL_LOGITS_NONE && !logits)
        return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: logits is NULL", fn);
    if (T < 1 || T > INT32_MAX / b->B / (s->H > 0 ? s->H : 1))
        return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: T = %lld tokens (1 .. %lld for batch %lld)", fn,
                          (long long)T, (long long)(INT32_MAX / b->B / (s->H > 0 ? s->H : 1)), (long long)b->B);
    const int64_t R = b->B * T;
    for (int64_t i = 0; i < R; i++)
        if (tokens[i] < 0 || tokens[i] >= s->vocab)
            return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: tokens[%lld] = %lld outside the vocabulary [0, %lld)",
                              fn, (long long)i, (long long)tokens[i], (long long)s->vocab);
    const int64_t out_rows = which == OCLA_MODEL_LOGITS_ALL ? R : b->cu ? b->n_seqs : b->B;
    ocla_status st;
    if ((st = ensure(s, &s->x, R * s->d)) != OCLA_SUCCESS || (st = ensure(s, &s->h, R * s->d)) != OCLA_SUCCESS ||
        (st = ensure(s, &s->a, R * s->d)) != OCLA_SUCCESS || (st = ensure(s, &s->g, R * s->I)) != OCLA_SUCCESS ||
        (st = ensure(s, &s->u, R * s->I)) != OCLA_SUCCESS ||
        (which != OCLA_MODEL_LOGITS_NONE && (st = ensure(s, &s->logits, out_rows * s->vocab)) != OCLA_SUCCESS) ||
        (st = upload_ids(s, tokens, R)) != OCLA_SUCCESS)
        return st;
    struct ocla_tensor x2 = view(&s->x, R, s->d, 0);
    if ((st = elementwise(s, "model_embed", R * s->d, (int)s->d, s->ids, s->embed, &x2)) != OCLA_SUCCESS) return st;
    for (int64_t l = 0; l < s->L; l++)
        if ((st = layer(s, &s->layers[l], b, form, l > 0)) != OCLA_SUCCESS) return st;
    if (which == OCLA_MODEL_LOGITS_NONE) return OCLA_SUCCESS;
    /* the final norm of the rows asked for (each sequence's last, or all), then the head */
    struct ocla_tensor h2 = view(&s->h, out_rows, s->d, 0), l2 = view(&s->logits, out_rows, s->vocab, 0);
    if ((st = final_norm(s, b, which == OCLA_MODEL_LOGITS_ALL, out_rows)) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(s->ctx, &h2, s->head, &l2)) != OCLA_SUCCESS)
        return st;
    return ocla_tensor_download(s->ctx, &l2, logits, (size_t)(out_rows * s->vocab) * sizeof(float));
}

ocla_status ocla_model_prefill(ocla_model_session *session, const int32_t *tokens, int64_t T,
                               ocla_model_logits which, float *logits) {
    if (!session) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_prefill: session is NULL");
    const batch_rows b = {.B = session->B, .T = T};
    OCLA__LOCKED_CALL("ocla_model_prefill", session->ctx, session, session,
                      forward(session, "ocla_model_prefill", tokens, &b, OCLA_FORM_CHUNKED, which, logits));
}

ocla_status ocla_model_step(ocla_model_session *session, const int32_t *tokens, float *logits) {
    if (!session) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_step: session is NULL");
    const batch_rows b = {.B = session->B, .T = 1};
    OCLA__LOCKED_CALL("ocla_model_step", session->ctx, session, session,
                      forward(session, "ocla_model_step", tokens, &b, OCLA_FORM_RECURRENT,
                              logits ? OCLA_MODEL_LOGITS_LAST : OCLA_MODEL_LOGITS_NONE, logits));
}

/* ---- serving: requests in state slots ---- */

/* n slots in [0, pool), none repeated; the messages name fn's argument. */
static ocla_status check_slots(ocla_model_session *s, const char *fn, int n, const int32_t *slots) {
    if (!slots || n < 1 || n > s->B)
        return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: slots: n = %d slots %s(1 .. the session's %lld)", fn,
                          n, slots ? "" : "(NULL) ", (long long)s->B);
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= s->B)
            return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: slots[%d] = %d outside the session's slots [0, %lld)",
                              fn, i, (int)slots[i], (long long)s->B);
        for (int j = 0; j < i; j++)
            if (slots[j] == slots[i])
                return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: slots[%d] = %d repeats slots[%d]", fn, i,
                                  (int)slots[i], j);
    }
    return OCLA_SUCCESS;
}

static ocla_status slot_reset(ocla_model_session *s, int slot) {
    const int32_t one = (int32_t)slot;
    ocla_status st = check_slots(s, "ocla_model_slot_reset", 1, &one);
    for (int64_t l = 0; st == OCLA_SUCCESS && l < s->L; l++) {
        const model_layer *ly = &s->layers[l];
        ocla_tensor *const t[4] = {ly->state, ly->conv_state[0], ly->conv_state[1], ly->conv_state[2]};
        for (int i = 0; i < 4 && st == OCLA_SUCCESS; i++) {
            if (!t[i]) continue; /* no short convolutions */
            struct ocla_tensor row = *t[i]; /* [1, ...] at the slot */
            row.dims[0] = 1;
            row.offset += (size_t)slot * (size_t)row.strides[0];
            st = ocla__layer_fill(s->ctx, &row, 0.0f);
        }
    }
    return st;
}

ocla_status ocla_model_slot_reset(ocla_model_session *session, int slot) {
    if (!session) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_slot_reset: session is NULL");
    OCLA__LOCKED_CALL("ocla_model_slot_reset", session->ctx, session, session, slot_reset(session, slot));
}

#define FN_PREFILL_SLOTS "ocla_model_prefill_slots"

static ocla_status prefill_slots(ocla_model_session *s, int n, const int32_t *slots, const int32_t *cu,
                                 const int32_t *tokens, ocla_model_logits which, float *logits) {
    ocla_status st = check_slots(s, FN_PREFILL_SLOTS, n, slots);
    if (st != OCLA_SUCCESS) return st;
    if (!cu) return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, FN_PREFILL_SLOTS ": cu_seqlens is NULL");
    if (cu[0] != 0)
        return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT, FN_PREFILL_SLOTS ": cu_seqlens[0] = %d (must be 0)", (int)cu[0]);
    for (int i = 0; i < n; i++)
        if (cu[i + 1] <= cu[i])
            return ocla__fail(s->ctx, OCLA_ERR_INVALID_ARGUMENT,
                              FN_PREFILL_SLOTS ": cu_seqlens[%d] = %d after %d: request %d has no tokens", i + 1,
                              (int)cu[i + 1], (int)cu[i], i);
    const batch_rows b = {.B = 1, .T = cu[n], .slots = slots, .n_slots = n, .cu = cu, .n_seqs = n};
    return forward(s, FN_PREFILL_SLOTS, tokens, &b, OCLA_FORM_CHUNKED, which, logits);
}

ocla_status ocla_model_prefill_slots(ocla_model_session *session, int n, const int32_t *slots,
                                     const int32_t *cu_seqlens, const int32_t *tokens, ocla_model_logits which,
                                     float *logits) {
    if (!session) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, FN_PREFILL_SLOTS ": session is NULL");
    OCLA__LOCKED_CALL(FN_PREFILL_SLOTS, session->ctx, session, session,
                      prefill_slots(session, n, slots, cu_seqlens, tokens, which, logits));
}

static ocla_status step_slots(ocla_model_session *s, int n, const int32_t *slots, const int32_t *tokens,
                              float *logits) {
    const ocla_status st = check_slots(s, "ocla_model_step_slots", n, slots);
    const batch_rows b = {.B = n, .T = 1, .slots = slots, .n_slots = n};
    return st != OCLA_SUCCESS ? st
                              : forward(s, "ocla_model_step_slots", tokens, &b, OCLA_FORM_RECURRENT,
                                        logits ? OCLA_MODEL_LOGITS_LAST : OCLA_MODEL_LOGITS_NONE, logits);
}

ocla_status ocla_model_step_slots(ocla_model_session *session, int n, const int32_t *slots, const int32_t *tokens,
                                  float *logits) {
    if (!session) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_step_slots: session is NULL");
    OCLA__LOCKED_CALL("ocla_model_step_slots", session->ctx, session, session,
                      step_slots(session, n, slots, tokens, logits));
}
