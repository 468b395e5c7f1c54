/* SPDX-License-Identifier: MIT */
/* The multi-head attention layers' pieces shared by the forward (runtime/layer_mha.c) and the backward
 * (runtime/layer_mha_bwd.c). The caller holds the context lock. */
#ifndef OCLA_LAYER_MHA_H
#define OCLA_LAYER_MHA_H

#include "layer_common.h"

/* params, the weights (appended to set's inputs for the aliasing rule) and E / F for a layer on
 * [B, T, D] inputs; the messages name fn. */
ocla_status ocla__mha_check(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p,
                            const ocla_mha_layer_weights *w, int64_t D, int64_t T, ocla_io_set *set);
/* The op parameters of the layer's attention (each kind reads its own). */
typedef struct ocla__mha_ops {
    ocla_attn_params linear;
    ocla_softmax_params softmax;
    ocla_linformer_params linformer;
} ocla__mha_ops;
void ocla__mha_op_params(const ocla_mha_layer_params *p, ocla__mha_ops *ops);
/* o [B,T,H,V] = the attention of the layer's kind over the [B,T,H,D] views q, k, v. */
ocla_status ocla__mha_attend(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                             const ocla_tensor *q, const ocla_tensor *k, const ocla_tensor *v, ocla_tensor *o);

#endif
