/* SPDX-License-Identifier: MIT */
/* fp64 reference of fla's GLAForCausalLM (ref_model.h). Per layer (GLABlock):
 *   h = RMSNorm(x) attn_norm
 *   q = h Wq, k = h Wk, v = h Wv (grouped heads: query head i reads kv head i / G), r = h Wg
 *   use_short_conv: q, k, v = silu(sum_j w[c, j] z_{t - (W-1) + j}[c]) (fla's ShortConvolution of
 *                   each projection, zeros before the first token, no bias)
 *   gk = logsigmoid((h Wgk0) Wgk1 + b) / 16;  clamp_min: gk = max(gk, clamp_min)
 *   feature_map: q, k = phi(q), phi(k) (fla's ACT2FN)
 *   S_t = diag(exp(gk_t)) S_{t-1} + k_t v_t^T,  o_t = K^-1/2 q_t^T S_t          (per head)
 *   o = RMSNorm_V(o) gnorm * silu(r) (use_output_gate; else RMSNorm_V(o) gnorm);  x = x + o Wo
 *   h = RMSNorm(x) mlp_norm;  x = x + (silu(h Wgate) * (h Wup)) Wdown
 * then logits = (RMSNorm(x) norm) W_head (lm_head, or the embeddings when tied). RMSNorm(x) =
 * x / sqrt(mean(x^2) + norm_eps). nn.Linear weights are [out, in]: y_o = sum_i W[o, i] x_i. */
#include "ref_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float *tensor(const ocla_model *m, const char *name) {
    ocla_model_tensor t;
    return ocla_model_tensor_get(m, name, &t) == OCLA_SUCCESS ? t.data : NULL;
}

static const float *layer_tensor(const ocla_model *m, int l, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s", l, what);
    return tensor(m, name);
}

/* y[out] = W[out, in] x[in] */
static void linear(const float *W, int out, int in, const double *x, double *y) {
    for (int o = 0; o < out; o++) {
        double s = 0.0;
        for (int i = 0; i < in; i++) s += (double)W[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
}

/* y = x / sqrt(mean(x^2) + eps) * w (w NULL: 1) */
static void rmsnorm(const double *x, int n, double eps, const float *w, double *y) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double inv = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * inv * (w ? (double)w[i] : 1.0);
}

static double silu(double a) { return a / (1.0 + exp(-a)); }
static double logsigmoid(double a) { return fmin(a, 0.0) - log1p(exp(-fabs(a))); }

/* fla's ACT2FN[feature_map] (gelu: fla's tanh approximation, its constants) */
static double feature(int fmap, double a) {
    switch (fmap) {
    case OCLA_MODEL_FMAP_RELU: return fmax(a, 0.0);
    case OCLA_MODEL_FMAP_SIGMOID: return 1.0 / (1.0 + exp(-a));
    case OCLA_MODEL_FMAP_LOGSIGMOID: return logsigmoid(a);
    case OCLA_MODEL_FMAP_SWISH: return silu(a);
    case OCLA_MODEL_FMAP_SQRELU: return fmax(a, 0.0) * fmax(a, 0.0);
    case OCLA_MODEL_FMAP_GELU: return a * 0.5 * (1.0 + tanh(0.79788456 * a * (1.0 + 0.044715 * a * a)));
    default: return a;
    }
}

/* the short convolution of channel c at token t of raw [T, n]: silu(sum_j w[c, 0, j] raw[t - (W-1) + j, c]) */
static double conv_at(const double *raw, int n, int t, int c, const float *w, int W) {
    double s = 0.0;
    for (int j = 0; j < W; j++) {
        const int tau = t - (W - 1) + j;
        if (tau >= 0) s += (double)w[(size_t)c * W + j] * raw[(size_t)tau * n + c];
    }
    return silu(s);
}

typedef struct lw {
    const float *an, *mn, *wq, *wk, *wv, *wg, *g0, *g1, *gb, *wo, *gn, *gate, *up, *down;
    const float *cq, *ck, *cv; /* use_short_conv */
} lw;

static int layer_weights(const ocla_model *m, const ocla_gla_config *c, int l, lw *w) {
    *w = (lw){layer_tensor(m, l, "attn_norm.weight"),       layer_tensor(m, l, "mlp_norm.weight"),
              layer_tensor(m, l, "attn.q_proj.weight"),     layer_tensor(m, l, "attn.k_proj.weight"),
              layer_tensor(m, l, "attn.v_proj.weight"),
              c->use_output_gate ? layer_tensor(m, l, "attn.g_proj.weight") : NULL,
              layer_tensor(m, l, "attn.gk_proj.0.weight"),  layer_tensor(m, l, "attn.gk_proj.1.weight"),
              layer_tensor(m, l, "attn.gk_proj.1.bias"),    layer_tensor(m, l, "attn.o_proj.weight"),
              NULL,                                         layer_tensor(m, l, "mlp.gate_proj.weight"),
              layer_tensor(m, l, "mlp.up_proj.weight"),     layer_tensor(m, l, "mlp.down_proj.weight"),
              NULL, NULL, NULL};
    if (c->elementwise_affine) {
        w->gn = layer_tensor(m, l, c->fuse_norm && c->use_output_gate ? "attn.g_norm_swish_gate.weight"
                                                                       : "attn.g_norm.weight");
        if (!w->gn) return -1;
    }
    if (c->use_short_conv) {
        w->cq = layer_tensor(m, l, "attn.q_conv1d.weight"), w->ck = layer_tensor(m, l, "attn.k_conv1d.weight");
        w->cv = layer_tensor(m, l, "attn.v_conv1d.weight");
        if (!w->cq || !w->ck || !w->cv) return -1;
    }
    const float *const *p = &w->an;
    for (int i = 0; i < 14; i++)
        if (i != 10 && !(i == 5 && !c->use_output_gate) && !p[i]) return -1;
    return 0;
}

int ref_model_logits(const ocla_model *model, const int32_t *tokens, int T, double *logits) {
    const ocla_gla_config *c = ocla_model_config(model);
    const int d = (int)c->hidden_size, H = (int)c->num_heads, K = (int)c->head_k_dim, V = (int)c->head_v_dim;
    const int G = (int)(c->num_heads / c->num_kv_heads), kd = (int)c->key_dim, vd = (int)c->value_dim;
    const int kg = (int)c->key_dim_per_group, vg = (int)c->value_dim_per_group, I = (int)c->intermediate_size;
    const int R = (int)c->gate_low_rank_dim, NV = (int)c->vocab_size;
    const double eps = c->norm_eps, tau = c->gate_logit_normalizer, scale = 1.0 / sqrt((double)K);
    const float *E = tensor(model, "model.embeddings.weight"), *fn = tensor(model, "model.norm.weight");
    const float *head = c->tie_word_embeddings ? E : tensor(model, "lm_head.weight");
    const size_t big = (size_t)(d > I ? d : I) + (size_t)kd + (size_t)vd;
    double *x = calloc((size_t)T * d, sizeof *x), *h = malloc(big * sizeof *h), *q = malloc(big * sizeof *q);
    double *k = malloc(big * sizeof *k), *v = malloc(big * sizeof *v), *r = malloc(big * sizeof *r);
    double *gk = malloc(big * sizeof *gk), *lr = malloc((size_t)R * sizeof *lr), *o = malloc(big * sizeof *o);
    double *a = malloc(big * sizeof *a), *S = calloc((size_t)H * K * V, sizeof *S);
    /* the raw projections of every token (the short convolutions' inputs) */
    const int W = c->use_short_conv ? (int)c->conv_size : 0;
    double *raw = W ? malloc((size_t)T * (size_t)(kd + kg + vg) * sizeof *raw) : NULL;
    int ret = E && fn && head && x && h && q && k && v && r && gk && lr && o && a && S && (!W || raw) ? 0 : -1;
    for (int t = 0; !ret && t < T; t++)
        for (int i = 0; i < d; i++) x[(size_t)t * d + i] = E[(size_t)tokens[t] * d + i];
    for (int l = 0; !ret && l < c->num_hidden_layers; l++) {
        lw w;
        if ((ret = layer_weights(model, c, l, &w))) break;
        memset(S, 0, (size_t)H * K * V * sizeof *S);
        for (int t = 0; t < T; t++) {
            double *xt = x + (size_t)t * d;
            rmsnorm(xt, d, eps, w.an, h);
            linear(w.wq, kd, d, h, q), linear(w.wk, kg, d, h, k), linear(w.wv, vg, d, h, v);
            if (W) {
                double *rq = raw, *rk = raw + (size_t)T * kd, *rv = rk + (size_t)T * kg;
                memcpy(rq + (size_t)t * kd, q, (size_t)kd * sizeof *q);
                memcpy(rk + (size_t)t * kg, k, (size_t)kg * sizeof *k);
                memcpy(rv + (size_t)t * vg, v, (size_t)vg * sizeof *v);
                for (int j = 0; j < kd; j++) q[j] = conv_at(rq, kd, t, j, w.cq, W);
                for (int j = 0; j < kg; j++) k[j] = conv_at(rk, kg, t, j, w.ck, W);
                for (int j = 0; j < vg; j++) v[j] = conv_at(rv, vg, t, j, w.cv, W);
            }
            if (w.wg) linear(w.wg, vd, d, h, r);
            linear(w.g0, R, d, h, lr), linear(w.g1, kg, R, lr, gk);
            for (int j = 0; j < kg; j++) {
                gk[j] = logsigmoid(gk[j] + w.gb[j]) / tau;
                if (c->has_clamp_min) gk[j] = fmax(gk[j], (double)c->clamp_min);
            }
            for (int j = 0; j < kd; j++) q[j] = feature((int)c->feature_map, q[j]);
            for (int j = 0; j < kg; j++) k[j] = feature((int)c->feature_map, k[j]);
            for (int hh = 0; hh < H; hh++) {
                const int g = hh / G; /* fla's repeat: head hh reads kv head hh / G */
                double *Sh = S + (size_t)hh * K * V, *oh = o + (size_t)hh * V;
                for (int i = 0; i < K; i++) {
                    const double decay = exp(gk[g * K + i]), ki = k[g * K + i];
                    for (int j = 0; j < V; j++) Sh[i * V + j] = decay * Sh[i * V + j] + ki * v[g * V + j];
                }
                for (int j = 0; j < V; j++) {
                    double s = 0.0;
                    for (int i = 0; i < K; i++) s += q[hh * K + i] * Sh[i * V + j];
                    a[j] = s * scale;
                }
                rmsnorm(a, V, eps, w.gn, oh);
                if (w.wg)
                    for (int j = 0; j < V; j++) oh[j] *= silu(r[hh * V + j]);
            }
            linear(w.wo, d, vd, o, a);
            for (int i = 0; i < d; i++) xt[i] += a[i];
            rmsnorm(xt, d, eps, w.mn, h);
            linear(w.gate, I, d, h, q), linear(w.up, I, d, h, k);
            for (int i = 0; i < I; i++) q[i] = silu(q[i]) * k[i];
            linear(w.down, d, I, q, a);
            for (int i = 0; i < d; i++) xt[i] += a[i];
        }
    }
    for (int t = 0; !ret && t < T; t++) {
        rmsnorm(x + (size_t)t * d, d, eps, fn, h);
        linear(head, NV, d, h, logits + (size_t)t * NV);
    }
    free(x), free(h), free(q), free(k), free(v), free(r), free(gk), free(lr), free(o), free(a), free(S), free(raw);
    return ret;
}
