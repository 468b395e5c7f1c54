/* SPDX-License-Identifier: MIT */
/* Generation loop of a batch-1 session (include/ocla/model.h, "generation"): prefill, then sample and
 * step until max_new tokens or a stop token; the wall time of each phase. Public calls only. */
#include <stdlib.h>

#include "internal.h"
#include "ocla/model.h"

#define FN "ocla_model_generate"

static int is_stop(int32_t t, const int32_t *stop, int n_stop) {
    for (int i = 0; i < n_stop; i++)
        if (stop[i] == t) return 1;
    return 0;
}

ocla_status ocla_model_generate(ocla_model_session *session, ocla_sampler *sampler, const int32_t *prompt,
                                int64_t n_prompt, int64_t max_new, const int32_t *stop, int n_stop, int32_t *out,
                                int64_t *n_out, ocla_generate_stats *stats) {
    if (n_out) *n_out = 0;
    if (!session || !sampler || !prompt || !out || !n_out || (n_stop > 0 && !stop))
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, FN ": %s is NULL",
                          !session ? "session" : !sampler ? "sampler" : !prompt ? "prompt" : !out ? "out"
                                                                        : !n_out ? "n_out" : "stop");
    if (ocla_model_session_batch(session) != 1 || max_new < 1 || n_stop < 0)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, FN ": needs a session of batch 1 (it has %d), max_new >= 1 "
                          "(%lld) and n_stop >= 0 (%d)", ocla_model_session_batch(session), (long long)max_new, n_stop);
    const int64_t vocab = ocla_model_session_vocab(session);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    if (!logits) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, FN ": host memory for the logits");
    ocla_generate_stats st_ = {.prompt_tokens = n_prompt};
    double t0 = ocla_now_seconds();
    ocla_status st = ocla_model_prefill(session, prompt, n_prompt, OCLA_MODEL_LOGITS_LAST, logits);
    int64_t n = 0;
    while (st == OCLA_SUCCESS) {
        int32_t tok = 0;
        if ((st = ocla_sampler_sample(sampler, logits, vocab, &tok)) != OCLA_SUCCESS) break;
        out[n++] = tok;
        const double t = ocla_now_seconds();
        if (n == 1) st_.prefill_seconds = t - t0, t0 = t;
        if (n == max_new || is_stop(tok, stop, n_stop)) break;
        st = ocla_model_step(session, &tok, logits);
    }
    st_.generated_tokens = n;
    if (n > 1) st_.decode_seconds = ocla_now_seconds() - t0;
    free(logits);
    *n_out = n;
    if (stats) *stats = st_;
    return st;
}
