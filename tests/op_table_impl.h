/* SPDX-License-Identifier: MIT */
/* Private to the op table's own files (tests/op_table.c, tests/op_table_grad.c): helpers for the
 * entries' make / call / reference functions, and the backward entries' interface. */
#ifndef OCLA_TESTS_OP_TABLE_IMPL_H
#define OCLA_TESTS_OP_TABLE_IMPL_H

#include "op_table.h"

/* Host values of array i (NULL when absent). */
const float *op_host(const op_case *c, int i);
/* The slice of the concatenated reference that belongs to output array i (NULL when absent). */
double *op_slice(const op_case *c, double *ref, int i);
/* malloc'd fp64 copy (NULL for NULL). */
double *op_to_double(const float *x, size_t n);

/* c->attn (tests/test_params.c) applied to an entry's params, and the fixed decays they name as fp64
 * (malloc'd; NULL when the gate is not FIXED or the decays are RetNet's). */
void op_attn_apply(const op_case *c, ocla_attn_params *p);
double *op_attn_decays(const ocla_attn_params *p, int H);

/* The attention backward (op_table_grad.c), one entry per gate kind / feature map. */
typedef struct op_bwd_cfg {
    ocla_gate_kind gate;
    ocla_feature_map fmap;
    int normalize;
    int packed; /* 1: packed sequences [1,T,H,D] at op_packed_offsets, states per sequence */
} op_bwd_cfg;
/* The packed entries' offsets for shape s (op_table.c): N = min(B + 1, T, 6) sequences of growing
 * lengths into cu[0..N]; returns N, or -1 where the table has no room (the call refuses). */
int op_packed_offsets(const op_shape *s, int32_t *cu);
void op_bwd_make(op_case *c);
ocla_status op_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_bwd_reference(const op_case *c, double *ref);
void op_bwd_cost(const op_shape *s, double *flops, double *bytes);

/* The softmax attention backward (op_table_grad.c), causal and not. */
typedef struct op_sm_bwd_cfg {
    int causal;
} op_sm_bwd_cfg;
void op_sm_bwd_make(op_case *c);
ocla_status op_sm_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_sm_bwd_reference(const op_case *c, double *ref);
void op_sm_bwd_cost(const op_shape *s, double *flops, double *bytes);
void op_sm_bwd_cost_causal(const op_shape *s, double *flops, double *bytes);

/* The Linformer backward (op_table_grad.c), per sharing mode. */
typedef struct op_lf_bwd_cfg {
    ocla_linformer_sharing sharing;
} op_lf_bwd_cfg;
void op_lf_bwd_make(op_case *c);
ocla_status op_lf_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_lf_bwd_reference(const op_case *c, double *ref);
void op_lf_bwd_cost(const op_shape *s, double *flops, double *bytes);

/* The FLASH backward (op_table_grad.c), one entry per mode and causal normaliser. */
typedef struct op_flash_bwd_cfg {
    int causal, lin_mean;
} op_flash_bwd_cfg;
void op_flash_bwd_make(op_case *c);
ocla_status op_flash_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_flash_bwd_reference(const op_case *c, double *ref);
void op_flash_bwd_cost(const op_shape *s, double *flops, double *bytes);

/* The GAU / FLASH layer's backward (op_table_gau_bwd.c), per norm, residual and mode. */
typedef struct op_gau_bwd_cfg {
    ocla_gau_norm norm;
    int residual, causal;
} op_gau_bwd_cfg;
void op_gau_bwd_make(op_case *c);
ocla_status op_gau_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_gau_bwd_reference(const op_case *c, double *ref);
void op_gau_bwd_cost(const op_shape *s, double *flops, double *bytes);
/* The layer backwards (op_table_layer_grad.c): the multi-head layers per kind, the GLA layer per form. */
typedef struct op_mha_bwd_cfg {
    ocla_mha_kind kind;
    int causal;
    float eps; /* LINEAR's normaliser; 0: the default */
} op_mha_bwd_cfg;
void op_mha_bwd_make(op_case *c);
ocla_status op_mha_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_mha_bwd_reference(const op_case *c, double *ref);
void op_mha_bwd_cost(const op_shape *s, double *flops, double *bytes);
typedef struct op_gla_bwd_cfg {
    ocla_attn_form form;
} op_gla_bwd_cfg;
void op_gla_bwd_make(op_case *c);
ocla_status op_gla_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
void op_gla_bwd_reference(const op_case *c, double *ref);
void op_gla_bwd_cost(const op_shape *s, double *flops, double *bytes);

#endif
