/* SPDX-License-Identifier: MIT */
/* Packed sequences of FLASH (ocla_flash_params.cu_seqlens; the forward runtime/op_flash.c and the
 * backward runtime/op_flash_bwd.c): the check of the offsets, the chunk count and the device table
 * the kernels read (common.cl's OCLA_SEQ and ocla_fchunk), written after the RoPE frequencies in the
 * same scratch buffer. */
#include <stdlib.h>

#include "op_common.h"
#include "op_flash.h"

#define ALIGN 64 /* floats */

ocla_status ocla__flash_check_seqs(ocla_context *ctx, const char *fn, const ocla_flash_params *p, ocla__flash_call *c) {
    c->nseq = 0, c->cu = NULL;
    if (!p->cu_seqlens && !p->n_seqs) return OCLA_SUCCESS;
    if (!p->cu_seqlens)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.n_seqs is %d but params.cu_seqlens is NULL", fn,
                          p->n_seqs);
    if (!p->causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "%s: params.cu_seqlens: packed sequences need the causal form (non-causal FLASH sums "
                          "over the whole time axis)", fn);
    ocla_status st = ocla__check_offsets(ctx, p->cu_seqlens, p->n_seqs, (const int64_t[]){c->B, c->T},
                                         "qq must be [1,T,H,S]");
    if (st != OCLA_SUCCESS) return st;
    c->nseq = p->n_seqs, c->cu = p->cu_seqlens;
    return OCLA_SUCCESS;
}

int64_t ocla__flash_chunks(const ocla__flash_call *c) {
    if (!c->nseq) return (c->T + c->C - 1) / c->C;
    int64_t g = 0;
    for (int i = 0; i < c->nseq; i++) g += ((int64_t)c->cu[i + 1] - c->cu[i] + c->C - 1) / c->C;
    return g;
}

size_t ocla__flash_aux_floats(ocla__flash_call *c) {
    const size_t half = c->rd > 0 ? (size_t)c->rd / 2 : 0;
    c->seq_o = (half + ALIGN - 1) / ALIGN * ALIGN;
    const size_t n = c->seq_o + (c->nseq ? 2 * (size_t)c->nseq + 2 : 0);
    return n ? n : 1;
}

ocla_status ocla__flash_aux_upload(ocla_context *ctx, float rope_base, cl_mem aux, ocla__flash_call *c) {
    c->aux = aux;
    ocla_status st = c->rd ? ocla__rope_upload(ctx, c->rd, rope_base, aux, 0) : OCLA_SUCCESS;
    if (st != OCLA_SUCCESS || !c->nseq) return st;
    const int N = c->nseq;
    int32_t *tab = malloc((2 * (size_t)N + 2) * sizeof *tab);
    if (!tab) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "FLASH: out of host memory (sequence table)");
    int32_t g = 0;
    for (int i = 0; i <= N; i++) {
        tab[i] = c->cu[i];
        tab[N + 1 + i] = g;
        if (i < N) g += (c->cu[i + 1] - c->cu[i] + c->C - 1) / c->C;
    }
    const cl_int err = clEnqueueWriteBuffer(ctx->queue, aux, CL_TRUE, c->seq_o * sizeof(float),
                                            (2 * (size_t)N + 2) * sizeof *tab, tab, 0, NULL, NULL);
    free(tab);
    return err == CL_SUCCESS ? OCLA_SUCCESS
                             : ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading the FLASH sequence table");
}

void ocla__flash_push_seq(ocla_args *a, const ocla__flash_call *c) {
    ocla__push_mem(a, c->aux), ocla__push_long(a, (int64_t)c->seq_o), ocla__push_int(a, c->nseq);
}
