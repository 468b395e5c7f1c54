/* SPDX-License-Identifier: MIT */
/* The size field of the public structs that have a *_defaults() initialiser (docs/EMBEDDING.md,
 * "Structs that grow"): every call that takes one checks it here and works on a local copy, so an
 * application built against older headers keeps working with a newer library of the same SONAME.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* The size of a struct's first release: the end of the field that was last in that release,
 * rounded up to the struct's alignment (today's sizeof; a field added later does not change it). */
#define FIRST_SIZE(T, last) \
    ((offsetof(T, last) + sizeof(((T *)0)->last) + _Alignof(T) - 1) / _Alignof(T) * _Alignof(T))

/* Each struct's defaults, behind one signature (in = the caller's struct, read by the MHA layer only). */
#define DEFAULTS(T)                              \
    static void d_##T(void *p, const void *in) { \
        (void)in;                                \
        T##_defaults(p);                         \
    }
DEFAULTS(ocla_context_options)
DEFAULTS(ocla_gemm_desc)
DEFAULTS(ocla_attn_params)
DEFAULTS(ocla_flash_params)
DEFAULTS(ocla_softmax_params)
DEFAULTS(ocla_linformer_params)
DEFAULTS(ocla_gla_layer_params)
DEFAULTS(ocla_gau_layer_params)
static void d_ocla_mha_layer_params(void *p, const void *in) { /* the defaults of the caller's kind */
    ocla_mha_layer_params_defaults(p, ((const ocla_mha_layer_params *)in)->kind);
}

typedef struct abi_struct {
    const char *type;
    size_t size;       /* this library's sizeof */
    size_t first_size; /* the first release's sizeof: the smallest size accepted */
    size_t align;      /* every release's sizeof is a multiple of the struct's alignment */
    void (*defaults)(void *p, const void *in);
} abi_struct;

#define ENTRY(T, last) {#T, sizeof(T), FIRST_SIZE(T, last), _Alignof(T), d_##T}
/* The GAU layer's params nest ocla_flash_params, which grew after (cu_seqlens, n_seqs): the GAU
 * struct's first release ended with the flash params of their first release. */
#define GAU_FIRST_SIZE (offsetof(ocla_gau_layer_params, flash) + FIRST_SIZE(ocla_flash_params, pos_offset))

/* In the order of ocla__abi_struct. The last field of each struct's first release (0.x). */
static const abi_struct abi_structs[OCLA__ABI_COUNT] = {
    [OCLA__ABI_CONTEXT_OPTIONS] = ENTRY(ocla_context_options, allow_tf32),
    [OCLA__ABI_GEMM_DESC] = ENTRY(ocla_gemm_desc, stride_c),
    [OCLA__ABI_ATTN_PARAMS] = ENTRY(ocla_attn_params, chunk),
    [OCLA__ABI_FLASH_PARAMS] = ENTRY(ocla_flash_params, pos_offset),
    [OCLA__ABI_SOFTMAX_PARAMS] = ENTRY(ocla_softmax_params, block),
    [OCLA__ABI_LINFORMER_PARAMS] = ENTRY(ocla_linformer_params, block),
    [OCLA__ABI_GLA_LAYER_PARAMS] = ENTRY(ocla_gla_layer_params, initial_state),
    [OCLA__ABI_MHA_LAYER_PARAMS] = ENTRY(ocla_mha_layer_params, sharing),
    [OCLA__ABI_GAU_LAYER_PARAMS] = {"ocla_gau_layer_params", sizeof(ocla_gau_layer_params), GAU_FIRST_SIZE,
                                    _Alignof(ocla_gau_layer_params), d_ocla_gau_layer_params},
};

ocla_status ocla__abi_in(ocla_context *ctx, const char *fn, const char *name, ocla__abi_struct which, const void *in,
                         void *local, size_t local_size) {
    if ((unsigned)which >= OCLA__ABI_COUNT || abi_structs[which].size != local_size)
        return ocla__fail(ctx, OCLA_ERR_INTERNAL, "%s: %s: wrong struct for the size check", fn, name);
    const abi_struct *s = &abi_structs[which];
    size_t size;
    memcpy(&size, in, sizeof size); /* the first member of every such struct */
    if (size == 0)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: %s.size is 0: initialise it with %s_defaults()", fn,
                          name, s->type);
    if (size > s->size)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "%s: %s (%s) was built against a newer ocla (size %zu, this library knows %zu)", fn, name,
                          s->type, size, s->size);
    if (size < s->first_size)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "%s: %s.size %zu is too small for %s (at least %zu): initialise it with %s_defaults()", fn,
                          name, size, s->type, s->first_size, s->type);
    if (size % s->align) /* between two releases' sizes (a struct grew): no build has it */
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "%s: %s.size %zu is too small for %s (no release has that size): initialise it with %s_defaults()",
                          fn, name, size, s->type, s->type);
    s->defaults(local, in);
    memcpy(local, in, size); /* fields the application's build does not have keep their defaults */
    memcpy(local, &s->size, sizeof s->size);
    return OCLA_SUCCESS;
}
