/* The prepared linear-attention op (runtime/op_attention.c; the NVIDIA path in
 * runtime/attention_nv.c): everything a run needs, decided once. Not installed. */
#ifndef OCLA_ATTN_OP_H
#define OCLA_ATTN_OP_H

#include "internal.h"
#include "plan.h"

/* io slots, in this order everywhere */
enum { IO_Q, IO_K, IO_V, IO_G, IO_S0, IO_Z0, IO_O, IO_S1, IO_Z1, IO_N };
/* buffers a run needs: gate cumsums, chunk states, denominators, recurrent carry */
enum { BUF_G, BUF_HS, BUF_DEN, BUF_CARRY, BUF_N };

typedef struct attn_layout {
    int present, ndim, offset; /* offset: the tensor starts inside its buffer */
    int64_t dims[4], strides[4];
} attn_layout;

typedef struct attn_key {
    int causal, has_scale, feature, normalize, gate, form, chunk;
    float scale, eps;
    attn_layout lay[IO_N];
} attn_key;

struct ocla_attn_op {
    ocla_context *ctx;
    attn_key key;
    float *decay;       /* H values for OCLA_GATE_FIXED (a copy), else NULL */
    int B, T, H, K, V;
    float scale;
    ocla_plan plan;
    ocla_plan_request req;
    int recurrent;
    int own;            /* owns its buffers (a user's prepared op) or uses context scratch */
    cl_kernel kg, ks, ko, kn, kr; /* the op's own kernel objects (their arguments stay set between runs):
                                     gate cumsum, states, outputs, normaliser, recurrent; NVIDIA: ks, ko */
    uint64_t min_wg, static_local; /* the kernels' CL_KERNEL_WORK_GROUP_SIZE and own local memory */
    cl_mem buf[BUF_N];
    size_t need[BUF_N];
    cl_mem dec;         /* the decays on the device (owned) */
    int nseg;           /* launches of the sequential walk (llvmpipe splits long sequences) */
    int seg;            /* chunks (chunked) or tokens (recurrent) per launch */
    /* what the kernels' arguments were last set to: a run with the same tensors sets none */
    int bound;
    cl_mem bound_mem[IO_N];
    size_t bound_off[IO_N];
    cl_mem bound_buf[BUF_N];
};

/* NVIDIA tensor-core path (attention_nv.c): kernels from the plan's variant, arguments, launches. */
ocla_status ocla__nv_prepare(ocla_attn_op *op);
ocla_status ocla__nv_bind(ocla_attn_op *op, const ocla_attn_io *io);
ocla_status ocla__nv_enqueue(ocla_attn_op *op);

#endif
