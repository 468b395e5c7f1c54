/* SPDX-License-Identifier: MIT */
/* Packed sequences (params.cu_seqlens), shared by the chunked forward (runtime/op_attention.c) and
 * the backward (runtime/op_attention_bwd.c): the host check of the offsets and the (sequence, chunk)
 * table the kernels walk (layout: kernels_cl/linear_attn.cl, "Rows"). */
#include <stdlib.h>

#include "op_common.h"

ocla_status ocla__check_offsets(ocla_context *ctx, const int32_t *cu, int N, const int64_t *qd, const char *shape) {
    if (qd[0] != 1)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "packed sequences: %s (B is %lld)", shape, (long long)qd[0]);
    if (N < 1 || N > qd[1])
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.n_seqs is %d: must be 1 .. T (%lld)", N,
                          (long long)qd[1]);
    if (cu[0] != 0)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "cu_seqlens[0] = %d: the first sequence starts at 0",
                          (int)cu[0]);
    for (int i = 0; i < N; i++)
        if (cu[i + 1] <= cu[i])
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                              "cu_seqlens[%d] = %d after cu_seqlens[%d] = %d: sequence %d is %s", i + 1,
                              (int)cu[i + 1], i, (int)cu[i], i, cu[i + 1] == cu[i] ? "empty" : "of negative length");
    if (cu[N] != qd[1])
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "cu_seqlens[%d] = %d: the sequences must cover T = %lld", N,
                          (int)cu[N], (long long)qd[1]);
    return OCLA_SUCCESS;
}

/* Packed sequences: the causal chunked form, B = 1, offsets 0 = cu[0] < cu[1] < ... < cu[N] = T. */
ocla_status ocla__check_seqlens(ocla_context *ctx, const ocla_attn_params *p, const int64_t *qd) {
    if (!p->causal || p->form != OCLA_FORM_CHUNKED)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "packed sequences (params.cu_seqlens) need the causal chunked form");
    return ocla__check_offsets(ctx, p->cu_seqlens, p->n_seqs, qd, "q must be [1,T,H,K]");
}

int ocla__seq_table_fill(const int32_t *cu, int N, int C, int32_t *tab, int *most) {
    int c = 0;
    *most = 1;
    for (int i = 0; i < N; i++) {
        const int len = cu[i + 1] - cu[i], nch = (len + C - 1) / C;
        tab[3 * i] = cu[i], tab[3 * i + 1] = len, tab[3 * i + 2] = c;
        for (int j = 0; j < nch; j++, c++) tab[3 * N + 2 * c] = i, tab[3 * N + 2 * c + 1] = j;
        if (nch > *most) *most = nch;
    }
    return c;
}

static int by_key(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The end of a sequence's portion from token r0 (the sequence ends at e): W 64-row blocks on from the
 * block holding r0, so that a sequence of at most W blocks is one portion. */
static int portion_end(int r0, int e, int W) {
    const int64_t end = ((int64_t)r0 / 64 + W) * 64;
    return end < e ? (int)end : e;
}

int ocla__nv_walk_table(const int32_t *cu, int N, int W, int has_hT, int32_t *tab, int *np, int *ne) {
    const int T = cu[N];
    int P = 0, own = 0;
    for (int s = 0; s < N; s++) /* the portions that keep their end state in the carry buffer, counted */
        for (int r0 = cu[s], r1; r0 < cu[s + 1]; r0 = r1, P++) {
            r1 = portion_end(r0, cu[s + 1], W);
            own += r1 < cu[s + 1] || (r0 > cu[s] && has_hT);
        }
    int32_t *walk = tab + T, *ent = walk + 4 * P;
    int io = 0, ix = own, E = 0;
    for (int s = 0; s < N; s++) {
        int prev = -1;
        for (int t = cu[s]; t < cu[s + 1]; t++) tab[t] = cu[s];
        for (int r0 = cu[s], r1; r0 < cu[s + 1]; r0 = r1) {
            r1 = portion_end(r0, cu[s + 1], W);
            const int cont = r0 > cu[s], last = r1 == cu[s + 1], p = !last || (cont && has_hT) ? io++ : ix++;
            walk[4 * p] = r0, walk[4 * p + 1] = r1, walk[4 * p + 2] = s;
            walk[4 * p + 3] = cont | last << 1 | (prev + 1) << 2;
            if (cont) /* the states it writes inside, at block boundaries r0 < 64 b < r1 */
                for (int b = r0 / 64 + 1; b <= (r1 - 1) / 64; b++) ent[3 * E] = 0, ent[3 * E + 1] = b, ent[3 * E + 2] = p, E++;
            if (!last) /* the state entering the next walk's first block */
                ent[3 * E] = 1, ent[3 * E + 1] = r1 / 64, ent[3 * E + 2] = p, E++;
            else if (cont && has_hT) /* the final state */
                ent[3 * E] = 2, ent[3 * E + 1] = 0, ent[3 * E + 2] = p, E++;
            prev = p;
        }
    }
    /* the order the state pass takes them in (work-group row -> portion): longest first, ties by
     * number. Work-groups start in order and the pass lasts as long as its last walk ends, so the
     * long walks go first and the short ones fill in beside them. */
    int64_t *key = malloc((size_t)P * sizeof *key);
    if (!key) return -1;
    for (int p = 0; p < P; p++) key[p] = ((int64_t)(INT32_MAX - (walk[4 * p + 1] - walk[4 * p])) << 32) | p;
    qsort(key, (size_t)P, sizeof *key, by_key);
    for (int p = 0; p < P; p++) ent[3 * E + p] = (int32_t)(key[p] & 0xffffffff);
    free(key);
    *np = P, *ne = E;
    return own;
}
