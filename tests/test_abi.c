/* SPDX-License-Identifier: MIT */
/* The size field of the structs with a *_defaults() initialiser (docs/EMBEDDING.md, "Structs that
 * grow"): every call that takes one refuses a size of 0 (naming the initialiser), a size larger than
 * this library's (an application built against a newer ocla) and a size smaller than the struct's
 * first release, and works with what *_defaults() sets. The refusals come before any kernel build. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Room for any of the structs and a byte past it. */
typedef union abi_buf {
    ocla_context_options context_options;
    ocla_gemm_desc gemm_desc;
    ocla_attn_params attn;
    ocla_flash_params flash;
    ocla_softmax_params softmax;
    ocla_linformer_params linformer;
    ocla_gla_layer_params gla;
    ocla_mha_layer_params mha;
    ocla_gau_layer_params gau;
    unsigned char bytes[1024];
} abi_buf;

typedef struct abi_call {
    const char *fn;       /* the public call */
    const char *defaults; /* the initialiser the refusal names */
    size_t size;          /* sizeof the struct */
    void (*init)(abi_buf *b);
    ocla_status (*call)(ocla_context *ctx, const abi_buf *b);
} abi_call;

static void i_context(abi_buf *b) { ocla_context_options_defaults(&b->context_options); }
static void i_gemm(abi_buf *b) { ocla_gemm_desc_defaults(&b->gemm_desc); }
static void i_attn(abi_buf *b) { ocla_attn_params_defaults(&b->attn); }
static void i_flash(abi_buf *b) { ocla_flash_params_defaults(&b->flash); }
static void i_softmax(abi_buf *b) { ocla_softmax_params_defaults(&b->softmax); }
static void i_linformer(abi_buf *b) { ocla_linformer_params_defaults(&b->linformer); }
static void i_gla(abi_buf *b) { ocla_gla_layer_params_defaults(&b->gla); }
static void i_mha(abi_buf *b) { ocla_mha_layer_params_defaults(&b->mha, OCLA_MHA_SOFTMAX); }
static void i_gau(abi_buf *b) { ocla_gau_layer_params_defaults(&b->gau); }

/* The calls, with arguments that pass every check before the struct's (the tensors are NULL or
 * absent, so a struct that passes fails later, on something else). */
static ocla_status c_create(ocla_context *ctx, const abi_buf *b) {
    (void)ctx;
    ocla_context *out = NULL;
    ocla_status st = ocla_context_create(&b->context_options, &out);
    ocla_context_destroy(out);
    return st;
}
static ocla_status c_wrap(ocla_context *ctx, const abi_buf *b) {
    cl_command_queue q = ocla_context_queue(ctx);
    cl_device_id dev = NULL;
    cr_assert_eq(clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL), CL_SUCCESS);
    ocla_context *out = NULL;
    ocla_status st = ocla_context_wrap(ocla_context_cl(ctx), dev, q, &b->context_options, &out);
    ocla_context_destroy(out);
    return st;
}
static ocla_status c_gemm(ocla_context *ctx, const abi_buf *b) { return ocla_gemm(ctx, &b->gemm_desc, NULL, NULL, NULL); }
static ocla_status c_attn_forward(ocla_context *ctx, const abi_buf *b) {
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    return ocla_attention_forward(ctx, &b->attn, &io);
}
static ocla_status c_attn_prepare(ocla_context *ctx, const abi_buf *b) {
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    ocla_attn_op *op = NULL;
    ocla_status st = ocla_attention_prepare(ctx, &b->attn, &io, &op);
    ocla_attention_op_destroy(op);
    return st;
}
static ocla_status c_attn_limits(ocla_context *ctx, const abi_buf *b) {
    int k = 0, v = 0;
    return ocla_attention_limits(ctx, &b->attn, &k, &v);
}
static ocla_status c_attn_backward(ocla_context *ctx, const abi_buf *b) {
    ocla_attn_grad_io io;
    memset(&io, 0, sizeof io);
    return ocla_attention_backward(ctx, &b->attn, &io);
}
static ocla_status c_flash(ocla_context *ctx, const abi_buf *b) {
    ocla_flash_io io;
    memset(&io, 0, sizeof io);
    return ocla_flash_attention(ctx, &b->flash, &io);
}
static ocla_status c_flash_backward(ocla_context *ctx, const abi_buf *b) {
    ocla_flash_grad_io io;
    memset(&io, 0, sizeof io);
    return ocla_flash_backward(ctx, &b->flash, &io);
}
static ocla_status c_softmax(ocla_context *ctx, const abi_buf *b) {
    return ocla_softmax_attention(ctx, &b->softmax, NULL, NULL, NULL, NULL);
}
static ocla_status c_linformer(ocla_context *ctx, const abi_buf *b) {
    ocla_linformer_io io;
    memset(&io, 0, sizeof io);
    return ocla_linformer_attention(ctx, &b->linformer, &io);
}
static ocla_status c_softmax_bwd(ocla_context *ctx, const abi_buf *b) {
    ocla_softmax_grad_io io;
    memset(&io, 0, sizeof io);
    return ocla_softmax_backward(ctx, &b->softmax, &io);
}
static ocla_status c_linformer_bwd(ocla_context *ctx, const abi_buf *b) {
    ocla_linformer_grad_io io;
    memset(&io, 0, sizeof io);
    return ocla_linformer_backward(ctx, &b->linformer, &io);
}
static ocla_status c_gla(ocla_context *ctx, const abi_buf *b) {
    ocla_gla_layer_weights w;
    memset(&w, 0, sizeof w);
    return ocla_gla_layer_forward(ctx, &b->gla, &w, NULL, NULL);
}
static ocla_status c_mha(ocla_context *ctx, const abi_buf *b) {
    ocla_mha_layer_weights w;
    memset(&w, 0, sizeof w);
    return ocla_mha_layer_forward(ctx, &b->mha, &w, NULL, NULL);
}
static ocla_status c_gau(ocla_context *ctx, const abi_buf *b) {
    ocla_gau_layer_weights w;
    memset(&w, 0, sizeof w);
    return ocla_gau_layer_forward(ctx, &b->gau, &w, NULL, NULL);
}

#define CALL(fn, T, init, call) {fn, #T "_defaults()", sizeof(T), init, call}
static const abi_call calls[] = {
    CALL("ocla_context_create", ocla_context_options, i_context, c_create),
    CALL("ocla_context_wrap", ocla_context_options, i_context, c_wrap),
    CALL("ocla_gemm", ocla_gemm_desc, i_gemm, c_gemm),
    CALL("ocla_attention_forward", ocla_attn_params, i_attn, c_attn_forward),
    CALL("ocla_attention_prepare", ocla_attn_params, i_attn, c_attn_prepare),
    CALL("ocla_attention_limits", ocla_attn_params, i_attn, c_attn_limits),
    CALL("ocla_attention_backward", ocla_attn_params, i_attn, c_attn_backward),
    CALL("ocla_flash_attention", ocla_flash_params, i_flash, c_flash),
    CALL("ocla_flash_backward", ocla_flash_params, i_flash, c_flash_backward),
    CALL("ocla_softmax_attention", ocla_softmax_params, i_softmax, c_softmax),
    CALL("ocla_linformer_attention", ocla_linformer_params, i_linformer, c_linformer),
    CALL("ocla_softmax_backward", ocla_softmax_params, i_softmax, c_softmax_bwd),
    CALL("ocla_linformer_backward", ocla_linformer_params, i_linformer, c_linformer_bwd),
    CALL("ocla_gla_layer_forward", ocla_gla_layer_params, i_gla, c_gla),
    CALL("ocla_mha_layer_forward", ocla_mha_layer_params, i_mha, c_mha),
    CALL("ocla_gau_layer_forward", ocla_gau_layer_params, i_gau, c_gau),
};
#define N_CALLS (sizeof calls / sizeof calls[0])

/* The error detail of the last call: the context's, or the thread's for context creation. */
static const char *detail(ocla_context *ctx, const abi_call *c) {
    return ocla_last_error(strncmp(c->fn, "ocla_context_", 13) ? ctx : NULL);
}

static ocla_status call_with_size(ocla_context *ctx, const abi_call *c, size_t size) {
    abi_buf b;
    memset(&b, 0xA5, sizeof b);
    c->init(&b);
    cr_assert_eq(*(const size_t *)&b, c->size, "%s: the initialiser sets size %zu, sizeof is %zu", c->defaults,
                 *(const size_t *)&b, c->size);
    memcpy(&b, &size, sizeof size);
    return c->call(ctx, &b);
}

/* A size the library does not know is refused, and the message says how: 0 (never initialised) and
 * too small name the initialiser; a newer (larger) size says which size this library knows. */
Test(abi, unknown_sizes_refused) {
    ocla_context *ctx = tc_open(0);
    for (size_t i = 0; i < N_CALLS; i++) {
        const abi_call *c = &calls[i];
        const size_t sizes[] = {0, 1, sizeof(size_t), c->size / 2, c->size - 1, c->size + 1};
        for (int j = 0; j < 6; j++) {
            const size_t size = sizes[j];
            const ocla_status st = call_with_size(ctx, c, size);
            const char *e = detail(ctx, c);
            cr_assert_eq(st, OCLA_ERR_INVALID_ARGUMENT, "%s: size %zu -> %s: %s", c->fn, size, ocla_status_string(st),
                         e);
            char want[64];
            if (size > c->size)
                snprintf(want, sizeof want, "this library knows %zu", c->size);
            cr_assert(strstr(e, c->fn), "%s: %s", c->fn, e);
            cr_assert(size == 0 ? strstr(e, ".size is 0") && strstr(e, c->defaults)
                      : size < c->size ? strstr(e, "too small") && strstr(e, c->defaults)
                                       : strstr(e, "newer") && strstr(e, want),
                      "%s, size %zu: %s", c->fn, size, e);
        }
    }
    ocla_context_destroy(ctx);
}

/* With what the initialiser sets, every call gets past the size check (the absent tensors fail
 * later, on something else), and the context, GEMM and attention families succeed outright. */
Test(abi, defaults_pass) {
    ocla_context *ctx = tc_open(0);
    for (size_t i = 0; i < N_CALLS; i++) {
        const abi_call *c = &calls[i];
        const ocla_status st = call_with_size(ctx, c, c->size);
        const char *e = st == OCLA_SUCCESS ? "" : detail(ctx, c);
        cr_assert(!strstr(e, ".size") && !strstr(e, "newer"), "%s: the defaults were refused: %s", c->fn, e);
    }
    /* context_options: a context from the defaults */
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    ocla_context *c2 = tc_open_with(0, &o);
    ocla_context_destroy(c2);
    /* gemm_desc: a 2x2 product */
    ocla_gemm_desc d;
    ocla_gemm_desc_defaults(&d);
    d.m = d.n = d.k = 2;
    const float a[4] = {1, 2, 3, 4}, bm[4] = {1, 0, 0, 1};
    const int64_t dims[2] = {2, 2};
    ocla_tensor *ta = tc_tensor(ctx, 2, dims, a), *tb = tc_tensor(ctx, 2, dims, bm), *tcm = tc_tensor(ctx, 2, dims, NULL);
    tc_ok(ctx, ocla_gemm(ctx, &d, ta, tb, tcm));
    float *got = tc_download(ctx, tcm);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(got[i], a[i], 1e-6f);
    free(got);
    ocla_tensor_destroy(ta), ocla_tensor_destroy(tb), ocla_tensor_destroy(tcm);
    /* attn_params: the limits of the defaults */
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    int mk = 0, mv = 0;
    tc_ok(ctx, ocla_attention_limits(ctx, &p, &mk, &mv));
    cr_assert_gt(mk, 0);
    ocla_context_destroy(ctx);
}

/* The GAU layer's nested FLASH params carry their own size, checked too. */
Test(abi, gau_nested_flash_size) {
    ocla_context *ctx = tc_open(0);
    ocla_gau_layer_params p;
    ocla_gau_layer_params_defaults(&p);
    cr_assert_eq(p.flash.size, sizeof(ocla_flash_params));
    p.flash.size = 0;
    ocla_gau_layer_weights w;
    memset(&w, 0, sizeof w);
    cr_assert_eq(ocla_gau_layer_forward(ctx, &p, &w, NULL, NULL), OCLA_ERR_INVALID_ARGUMENT);
    const char *e = ocla_last_error(ctx);
    cr_assert(strstr(e, "params.flash.size is 0") && strstr(e, "ocla_flash_params_defaults()"), "%s", e);
    /* a build from before the flash params grew (cu_seqlens, n_seqs appended): a GAU struct that ends
     * with the shorter flash params passes the size checks */
    ocla_gau_layer_params_defaults(&p);
    p.flash.size = offsetof(ocla_flash_params, cu_seqlens);
    p.size = offsetof(ocla_gau_layer_params, flash) + p.flash.size;
    const ocla_status st = ocla_gau_layer_forward(ctx, &p, &w, NULL, NULL);
    e = st == OCLA_SUCCESS ? "" : ocla_last_error(ctx);
    cr_assert(!strstr(e, ".size") && !strstr(e, "newer"), "the older GAU struct was refused: %s", e);
    ocla_context_destroy(ctx);
}

/* The MHA layer's defaults depend on the kind: every kind passes. */
Test(abi, mha_every_kind) {
    ocla_context *ctx = tc_open(0);
    const ocla_mha_kind kinds[] = {OCLA_MHA_LINEAR, OCLA_MHA_SOFTMAX, OCLA_MHA_LINFORMER};
    for (int i = 0; i < 3; i++) {
        ocla_mha_layer_params p;
        ocla_mha_layer_params_defaults(&p, kinds[i]);
        cr_assert_eq(p.size, sizeof p);
        ocla_mha_layer_weights w;
        memset(&w, 0, sizeof w);
        const ocla_status st = ocla_mha_layer_forward(ctx, &p, &w, NULL, NULL);
        const char *e = st == OCLA_SUCCESS ? "" : ocla_last_error(ctx);
        cr_assert(!strstr(e, ".size"), "kind %d: %s", (int)kinds[i], e);
    }
    ocla_context_destroy(ctx);
}
