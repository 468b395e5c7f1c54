/* SPDX-License-Identifier: MIT */
/* fp64 C reference of a whole GLAForCausalLM (tests only), written from fla's modeling code
 * (fla/models/gla/modeling_gla.py, fla/layers/gla.py, fla/modules): every weight from the loaded
 * checkpoint, every sum in double, the attention in its recurrent form. */
#ifndef OCLA_REF_MODEL_H
#define OCLA_REF_MODEL_H
#include <stdint.h>

#include "ocla/ocla.h"

/* logits [T, vocab] of every position of one sequence of T tokens, from zero states. 0 on success,
 * -1 when a tensor is missing or memory runs out. */
int ref_model_logits(const ocla_model *model, const int32_t *tokens, int T, double *logits);
#endif
