/* SPDX-License-Identifier: MIT */
/* Token sampling on the host over downloaded logits (include/ocla/model.h, "sampling"): greedy,
 * temperature, top-k, top-p, with a seeded xoshiro256** generator. Pure C, no device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ocla/model.h"

struct ocla_sampler {
    ocla_sampler_params p;
    uint64_t s[4];   /* xoshiro256** state */
    int64_t cap;     /* entries of c and prob */
    struct cand {
        float logit;
        int32_t id;
    } *c;            /* the candidates, sorted by logit, largest first */
    double *prob;
};

void ocla_sampler_params_defaults(ocla_sampler_params *params) {
    if (params) *params = (ocla_sampler_params){.size = sizeof *params, .temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** (Blackman and Vigna) */
static uint64_t next(uint64_t *s) {
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
}

ocla_status ocla_sampler_create(const ocla_sampler_params *params, ocla_sampler **out) {
    if (out) *out = NULL;
    if (!params || !out)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_sampler_create: %s is NULL", params ? "out" : "params");
    if (params->size != sizeof *params)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_sampler_create: params.size %zu is not this library's %zu (ocla_sampler_params_defaults)",
                          params->size, sizeof *params);
    if (!(params->temperature >= 0.0f) || !isfinite(params->temperature) || params->top_k < 0 ||
        !(params->top_p > 0.0f && params->top_p <= 1.0f))
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_sampler_create: temperature %g (>= 0), top_k %d (>= 0), top_p %g (in (0, 1])",
                          (double)params->temperature, params->top_k, (double)params->top_p);
    ocla_sampler *s = calloc(1, sizeof *s);
    if (!s) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "ocla_sampler_create: host memory");
    s->p = *params;
    uint64_t x = params->seed;
    for (int i = 0; i < 4; i++) s->s[i] = splitmix64(&x);
    *out = s;
    return OCLA_SUCCESS;
}

void ocla_sampler_free(ocla_sampler *sampler) {
    if (!sampler) return;
    free(sampler->c), free(sampler->prob), free(sampler);
}

static int by_logit(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    return x->logit > y->logit ? -1 : x->logit < y->logit ? 1 : (x->id > y->id) - (x->id < y->id);
}

static ocla_status sample(ocla_sampler *s, const float *logits, int64_t vocab, int32_t *token) {
    int64_t best = 0;
    for (int64_t i = 0; i < vocab; i++) {
        if (isnan(logits[i]))
            return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_sampler_sample: logits[%lld] is NaN", (long long)i);
        if (logits[i] > logits[best]) best = i;
    }
    if (s->p.temperature == 0.0f || s->p.top_k == 1 || isinf(logits[best])) return *token = (int32_t)best, OCLA_SUCCESS;
    if (s->cap < vocab) {
        free(s->c), free(s->prob);
        s->c = malloc((size_t)vocab * sizeof *s->c);
        s->prob = malloc((size_t)vocab * sizeof *s->prob);
        s->cap = s->c && s->prob ? vocab : 0;
        if (!s->cap) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "ocla_sampler_sample: host memory");
    }
    for (int64_t i = 0; i < vocab; i++) s->c[i] = (struct cand){logits[i], (int32_t)i};
    qsort(s->c, (size_t)vocab, sizeof *s->c, by_logit); /* largest first, ties by the smaller id */
    int64_t n = s->p.top_k > 0 && s->p.top_k < vocab ? s->p.top_k : vocab;
    /* softmax of logits / t over the candidates, in fp64, relative to the largest */
    const double t = s->p.temperature, top = s->c[0].logit;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += s->prob[i] = exp(((double)s->c[i].logit - top) / t);
    if (s->p.top_p < 1.0f) { /* the fewest candidates whose probability reaches top_p */
        double cum = 0.0;
        for (int64_t i = 0; i < n; i++)
            if ((cum += s->prob[i] / sum) >= (double)s->p.top_p) {
                n = i + 1;
                break;
            }
        sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += s->prob[i];
    }
    const double u = (double)(next(s->s) >> 11) * 0x1.0p-53 * sum; /* uniform in [0, sum) */
    double cum = 0.0;
    int64_t pick = n - 1;
    for (int64_t i = 0; i < n; i++)
        if ((cum += s->prob[i]) > u) {
            pick = i;
            break;
        }
    *token = s->c[pick].id;
    return OCLA_SUCCESS;
}

ocla_status ocla_sampler_sample(ocla_sampler *sampler, const float *logits, int64_t vocab, int32_t *token) {
    if (!sampler || !logits || !token)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_sampler_sample: %s is NULL",
                          !sampler ? "sampler" : !logits ? "logits" : "token");
    if (vocab < 1 || vocab > INT32_MAX)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_sampler_sample: vocab %lld (1 .. 2^31 - 1)",
                          (long long)vocab);
    return sample(sampler, logits, vocab, token);
}
