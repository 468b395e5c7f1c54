/* SPDX-License-Identifier: MIT */
/* libFuzzer target: API argument validation and the plan function, with random shapes, strides,
 * dtypes and options; and every op of the op table (tests/op_table.h) with fuzzed shapes, chunks
 * and broken tensor arguments.
 *
 * The plan function (ocla_plan_compute / ocla_plan_candidates) is pure and needs no device. The
 * validation of calls that take a context runs on one PoCL context made once in
 * LLVMFuzzerInitialize (disk cache off); the NULL-context paths are exercised on every input too.
 * Sizes are kept small where a call would really allocate or compute, so one execution stays in
 * the millisecond range; everything that must be refused is passed as is (huge, negative,
 * overflowing, mismatched).
 *
 * Input: byte 0 picks the action (>= 0xC0: an op of the table; else byte 0 % 6), the rest feeds a
 * little reader (missing bytes read as 0).
 * Invariants checked (a violation traps, which libFuzzer reports as a crash):
 *  - every status is a known ocla_status; every failure leaves a NUL-terminated error detail;
 *  - out-parameters are NULL/untouched on failure;
 *  - an accepted plan fits the limits it was given (local memory incl. the kernel's own, work-group
 *    size incl. the kernel's limit), a forced chunk is honoured or refused, candidates are within
 *    max_chunks and the chosen chunk is among them;
 *  - an accepted tensor view lies inside its buffer (checked independently here, in 128-bit math);
 *  - an op of the table at one of its shapes with only T / B changed (T, B >= 1) succeeds with
 *    finite outputs; with one tensor as a view at a buffer offset it gives the same result (1e-4
 *    normwise) or refuses the layout (OCLA_ERR_SHAPE / INVALID_ARGUMENT); any other fuzzed call
 *    (a NULL, mis-shaped or aliased tensor, a bad chunk) gets a known status, not OCLA_ERR_INTERNAL;
 *    an output on an input's memory (but for the in-place state update) or as a view with a zero
 *    stride is always refused (issue 16's aliasing rule);
 *  - the context stays usable (a final tiny upload/download round trip after every input). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ocla_debug.h"
#include "op_table.h"

/* The input being run: printed with a violation (PoCL's LLVM installs signal handlers of its own, so
 * libFuzzer may not get to write the crash artifact once a kernel has been compiled). */
static const uint8_t *g_input;
static size_t g_input_size;

static void check(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_api: invariant violated: %s\nfuzz_api: input (%zu bytes, hex; save with xxd -r -p): ",
                what, g_input_size);
        for (size_t i = 0; i < g_input_size; i++) fprintf(stderr, "%02x", g_input[i]);
        fprintf(stderr, "\n");
        __builtin_trap();
    }
}

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;
static uint64_t u64(rd *r, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        uint8_t b = 0;
        if (r->n) b = *r->p++, r->n--;
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}
static uint8_t u8(rd *r) { return (uint8_t)u64(r, 1); }
/* A "size-like" value: mostly small, sometimes edge cases (0, negative, huge, overflowing). */
static int64_t dimv(rd *r) {
    uint8_t sel = u8(r);
    switch (sel >> 5) {
    case 0: return (int64_t)(sel & 31);
    case 1: return (int64_t)u64(r, 1) + 1;
    case 2: return (int64_t)u64(r, 2);
    case 3: return -(int64_t)(sel & 31);
    case 4: return INT64_MAX - (int64_t)(sel & 31);
    case 5: return (int64_t)((uint64_t)1 << (sel & 63)); /* 2^63 wraps to INT64_MIN */
    case 6: return (int64_t)u64(r, 8);
    default: return 1 + (sel & 15);
    }
}

static ocla_context *g_ctx;
static ocla_tensor *g_pool; /* 64 Ki floats: the buffer random views are cut from */
#define POOL_FLOATS 65536

static void check_status(ocla_status st, const ocla_context *ctx) {
    check((int)st >= OCLA_SUCCESS && (int)st <= OCLA_ERR_INTERNAL, "status in range");
    check(strcmp(ocla_status_string(st), "OCLA_ERR_UNKNOWN_STATUS") != 0, "status has a name");
    if (st != OCLA_SUCCESS) {
        const char *e = ocla_last_error(ctx);
        check(e != NULL && strlen(e) < (1u << 20), "error detail is a string");
        check(st != OCLA_ERR_INTERNAL, "validation reports a bug in ocla (OCLA_ERR_INTERNAL)");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = getenv("OCLA_FUZZ_DEVICE") ? getenv("OCLA_FUZZ_DEVICE") : "pocl";
    o.cache_mode = OCLA_CACHE_OFF;
    o.log_level = OCLA_LOG_ERROR;
    if (ocla_context_create(&o, &g_ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "fuzz_api: no PoCL context (%s): fuzzing the context-free paths only\n", ocla_last_error(NULL));
        g_ctx = NULL;
        return 0;
    }
    int64_t d = POOL_FLOATS;
    if (ocla_tensor_create(g_ctx, OCLA_F32, 1, &d, &g_pool) != OCLA_SUCCESS) g_pool = NULL;
    return 0;
}

/* ---- plan ---- */
static void fuzz_plan(rd *r) {
    ocla_plan_limits L;
    memset(&L, 0, sizeof L);
    static const uint64_t lm[] = {0, 1, 1024, 16384, 32768, 49152, 65536, 1 << 20, UINT64_MAX};
    uint8_t s = u8(r);
    L.local_mem_size = (s & 0x80) ? u64(r, 4) : lm[s % 9];
    L.max_work_group_size = (s & 0x40) ? u64(r, 2) : ((uint64_t)1 << (u8(r) % 12));
    L.max_work_item_size0 = (s & 0x20) ? u64(r, 2) : L.max_work_group_size;
    L.kernel_local_mem = (s & 0x10) ? u64(r, 2) : 0;
    L.kernel_wg_size = (s & 0x08) ? u64(r, 2) : 0;
    L.compute_units = (uint32_t)u64(r, 1);
    L.simd_width = (uint32_t)((s & 0x04) ? u64(r, 1) : 32);
    L.is_gpu = s & 1;
    /* the vendor table's keys: any vendor value (out of range too) and a name, unterminated at times */
    static const char *const names[] = {"NVIDIA H100 80GB HBM3", "gfx90a:sramecc+:xnack-", "AMD Radeon RX 6800 (navi21)",
                                        "Intel(R) Arc(TM) A770", "Apple M2", "Mali-G710", ""};
    L.vendor = (ocla_vendor)(u8(r) % 12);
    const uint8_t nm = u8(r);
    if (nm & 0x80)
        memset(L.arch, 'x', sizeof L.arch); /* no terminating zero */
    else
        snprintf(L.arch, sizeof L.arch, "%s", names[nm % 7]);
    ocla_plan_request q;
    memset(&q, 0, sizeof q);
    q.op = (ocla_op_kind)(u8(r) % (OCLA_OP_COUNT + 2)); /* includes out-of-range kinds */
    if (u8(r) == 255) q.op = (ocla_op_kind)-1;
    q.B = dimv(r), q.T = dimv(r), q.H = dimv(r), q.K = dimv(r), q.V = dimv(r);
    uint8_t c = u8(r);
    q.chunk = (c & 0x80) ? (int)(int16_t)u64(r, 2) : (c < 64 ? 0 : (1 << (c % 10)));

    ocla_plan plan;
    memset(&plan, 0xA5, sizeof plan);
    ocla_status st = ocla_plan_compute(&L, &q, &plan);
    check_status(st, NULL);
    int chunks[64];
    int maxc = u8(r) % 65;
    int nc = ocla_plan_candidates(&L, &q, chunks, maxc);
    check(nc >= 0 && nc <= maxc, "candidate count within max_chunks");
    if (st == OCLA_SUCCESS) {
        check(memchr(plan.reason, 0, sizeof plan.reason) != NULL, "reason is NUL-terminated");
        /* the recurrent form has no chunk (plan.chunk 0, a forced chunk ignored: include/ocla/ocla.h) */
        const int chunked = q.op != OCLA_OP_ATTN_RECURRENT;
        check((chunked ? plan.chunk > 0 : plan.chunk == 0) && plan.wg_x > 0 && plan.wg_y > 0 && plan.passes > 0,
              "plan fields positive (chunk 0 for the recurrent form)");
        if (q.chunk > 0 && chunked) check(plan.chunk == q.chunk, "a forced chunk is honoured");
        uint64_t wg = (uint64_t)plan.wg_x * (uint64_t)plan.wg_y;
        check(wg <= L.max_work_group_size, "work-group within the device limit");
        if (L.kernel_wg_size) check(wg <= L.kernel_wg_size, "work-group within the kernel limit");
        check(L.kernel_local_mem <= L.local_mem_size && plan.local_bytes <= L.local_mem_size - L.kernel_local_mem,
              "local memory within the device limit minus the kernel's own");
        if (nc > 0 && nc < maxc && q.chunk == 0) { /* all candidates listed: the pick is one of them */
            int found = 0;
            for (int i = 0; i < nc; i++) found |= chunks[i] == plan.chunk;
            check(found, "the chosen chunk is a candidate");
        }
    }
    /* NULL arguments */
    check(ocla_plan_compute(NULL, &q, &plan) != OCLA_SUCCESS, "NULL limits refused");
    check(ocla_plan_compute(&L, NULL, &plan) != OCLA_SUCCESS, "NULL request refused");
    check(ocla_plan_compute(&L, &q, NULL) != OCLA_SUCCESS, "NULL plan refused");
    check(ocla_plan_candidates(NULL, &q, chunks, 8) <= 0, "NULL limits: no candidates");
    check(ocla_plan_candidates(&L, &q, NULL, 8) <= 0 || 1, "NULL chunks tolerated");
    if (g_ctx) {
        char text[256];
        size_t ts = u8(r) % 3 == 0 ? 0 : (size_t)(u8(r) % 256) + 1;
        st = ocla_plan_explain(g_ctx, &q, &plan, ts ? text : NULL, ts);
        check_status(st, g_ctx);
        if (st == OCLA_SUCCESS && ts) check(memchr(text, 0, ts) != NULL, "explain text NUL-terminated");
    }
}

/* ---- tensors ---- */
static void fuzz_tensor_create(rd *r) {
    int ndim = (int)(int8_t)u8(r) % 7;
    int64_t dims[8];
    for (int i = 0; i < 8; i++) dims[i] = dimv(r);
    ocla_dtype dt = (ocla_dtype)(u8(r) % 4 == 3 ? (int)u64(r, 4) : 0);
    ocla_tensor *t = (ocla_tensor *)1;
    ocla_status st = ocla_tensor_create(NULL, dt, ndim, dims, &t);
    check(st != OCLA_SUCCESS && t == NULL, "NULL context refused, out cleared");
    check_status(st, NULL);
    if (!g_ctx) return;
    /* Only ask for what is either refused or small: the harness works out the element count. */
    double n = 1; /* exact while small, which is all that is compared exactly */
    int bad = ndim < 1 || ndim > OCLA_MAX_DIMS || (dt != OCLA_F32 && dt != OCLA_BF16 && dt != OCLA_F16);
    for (int i = 0; i < ndim && i < 8 && !bad; i++) {
        if (dims[i] <= 0) bad = 1;
        else n *= (double)dims[i];
    }
    if (!bad && n > (1 << 20) && n * 4 <= 4e18) return; /* would really allocate */
    t = (ocla_tensor *)1;
    st = ocla_tensor_create(g_ctx, dt, ndim, dims, u8(r) == 0 ? NULL : &t);
    check_status(st, g_ctx);
    if (bad) check(st != OCLA_SUCCESS, "bad dtype/ndim/dims refused");
    if (st == OCLA_SUCCESS) {
        check(t && (double)ocla_tensor_numel(t) == n && ocla_tensor_ndim(t) == ndim, "tensor as asked");
        ocla_tensor_destroy(t);
    } else if (t != (ocla_tensor *)1) {
        check(t == NULL, "out is NULL on failure");
    }
}

static void fuzz_tensor_wrap(rd *r) {
    if (!g_ctx || !g_pool) return;
    int ndim = (int)(u8(r) % 6);
    int64_t dims[4] = {0}, strides[4] = {0};
    for (int i = 0; i < 4; i++) dims[i] = dimv(r), strides[i] = dimv(r);
    uint8_t f = u8(r);
    size_t offset = (f & 1) ? (size_t)u64(r, 8) : (size_t)u64(r, 2);
    ocla_tensor *t = NULL;
    ocla_status st = (f & 2) ? ocla_tensor_view(g_ctx, g_pool, offset, ndim, dims, (f & 4) ? strides : NULL, &t)
                             : ocla_tensor_wrap(g_ctx, ocla_tensor_buffer(g_pool), offset, OCLA_F32, ndim, dims,
                                                (f & 4) ? strides : NULL, &t);
    check_status(st, g_ctx);
    /* independent extent check */
    double last = 0, numel = 1; /* exact below 2^53, far above the pool size */
    int ok = ndim >= 1 && ndim <= 4;
    for (int i = 0; i < ndim && ok; i++) {
        if (dims[i] <= 0) ok = 0;
        else if ((f & 4) && strides[i] < 0) ok = 0;
        else {
            numel *= (double)dims[i];
            last += (double)(dims[i] - 1) * (double)((f & 4) ? strides[i] : 0);
        }
    }
    double extent = (f & 4) ? last + 1 : numel;
    if (ok) ok = (double)offset + extent <= POOL_FLOATS;
    if (st == OCLA_SUCCESS) {
        check(ok, "an accepted view lies inside its buffer");
        /* a round trip through the strided copy paths, when small */
        if (numel <= 4096 && extent <= POOL_FLOATS) {
            size_t n = (size_t)numel;
            float *h = malloc(n * sizeof *h), *back = malloc(n * sizeof *back);
            if (h && back) {
                for (size_t i = 0; i < n; i++) h[i] = (float)i;
                /* overlapping strides (stride 0) alias elements: only check the status then */
                ocla_status a = ocla_tensor_upload(g_ctx, t, h, n * sizeof *h);
                check_status(a, g_ctx);
                ocla_status b = ocla_tensor_download(g_ctx, t, back, n * sizeof *back);
                check_status(b, g_ctx);
                check(a == OCLA_SUCCESS && b == OCLA_SUCCESS, "copies of an accepted view succeed");
                /* wrong byte counts are refused */
                check(ocla_tensor_upload(g_ctx, t, h, n * sizeof *h + 4) == OCLA_ERR_SHAPE, "byte count checked");
            }
            free(h);
            free(back);
        }
        ocla_tensor_destroy(t);
    } else {
        check(t == NULL, "out is NULL on failure");
    }
}

/* ---- attention: random params and tensor shapes (views of the pool, so nothing big) ---- */
/* Inputs are views of the pool's lower half (they may overlap each other); outputs of its upper half,
 * o and the final state apart (an output overlapping an input is refused: fuzz_ops checks that). */
static ocla_tensor *rand_view_at(rd *r, size_t base, int ndim, int64_t B, int64_t T, int64_t H, int64_t D) {
    uint8_t m = u8(r);
    if (m == 0) return NULL;
    int64_t dims[4] = {B, T, H, D};
    if (ndim == 3) dims[3] = 1;
    if (m < 24) dims[m % 4] += (m & 8) ? 1 : -1; /* a wrong dim */
    int nd = (m >= 24 && m < 32) ? ndim + 1 : ndim;
    if (nd > 4) nd = 4;
    size_t off = base + (size_t)u8(r);
    ocla_tensor *t = NULL;
    if (ocla_tensor_view(g_ctx, g_pool, off, nd, dims, NULL, &t) != OCLA_SUCCESS) return NULL;
    return t;
}
static ocla_tensor *rand_view(rd *r, int ndim, int64_t B, int64_t T, int64_t H, int64_t D) {
    return rand_view_at(r, 0, ndim, B, T, H, D);
}

static void fuzz_attention(rd *r) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    uint8_t a = u8(r), b = u8(r);
    p.causal = (a & 1) ? 1 : (a & 2) ? 0 : (int)(int8_t)u8(r);
    p.has_scale = (a >> 2) & 1;
    p.scale = (float)(int8_t)u8(r) / 16.0f;
    p.feature_map = (ocla_feature_map)((a >> 3) % 5); /* 3, 4 are invalid */
    p.normalize = (a >> 6) & 1;
    p.eps = (b & 1) ? -1.0f : (b & 2) ? 0.0f : 1e-6f;
    p.gate = (ocla_gate_kind)((b >> 2) % 6); /* 4, 5 invalid */
    p.form = (ocla_attn_form)((b >> 5) % 3); /* 2 invalid */
    p.chunk = u8(r) < 200 ? 0 : (int)(int16_t)u64(r, 2);
    float decay[16];
    for (int i = 0; i < 16; i++) decay[i] = -0.1f * (float)(i + 1);
    p.fixed_log_decay = (u8(r) & 1) ? decay : NULL;
    int64_t B = 1 + u8(r) % 2, T = u8(r) % 70, H = 1 + u8(r) % 3, K = 1 + u8(r) % 40, V = 1 + u8(r) % 40;
    if (u8(r) == 7) T = -T;
    if (H > 16) H = 16;
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    ocla_tensor *q = rand_view(r, 4, B, T, H, K), *k = rand_view(r, 4, B, T, H, K), *v = rand_view(r, 4, B, T, H, V);
    ocla_tensor *g = (p.gate == OCLA_GATE_SCALAR)   ? rand_view(r, 3, B, T, H, 1)
                     : (p.gate == OCLA_GATE_VECTOR) ? rand_view(r, 4, B, T, H, K)
                                                    : ((u8(r) & 3) == 0 ? rand_view(r, 4, B, T, H, K) : NULL);
    /* o: at most 2*70*3*40 floats from POOL_FLOATS/2; the final state 2*3*41*41 after it */
    ocla_tensor *o = rand_view_at(r, POOL_FLOATS / 2, 4, B, T, H, V);
    ocla_tensor *s0 = (u8(r) & 1) ? rand_view(r, 4, B, H, K, V) : NULL;
    ocla_tensor *s1 = (u8(r) & 1) ? rand_view_at(r, POOL_FLOATS / 2 + 17408, 4, B, H, K, V) : NULL;
    io.q = q, io.k = k, io.v = v, io.g = g, io.o = o, io.initial_state = s0, io.final_state = s1;
    ocla_status st = ocla_attention_forward(g_ctx, &p, &io);
    check_status(st, g_ctx);
    check(ocla_attention_forward(NULL, &p, &io) != OCLA_SUCCESS, "NULL context refused");
    check(ocla_attention_forward(g_ctx, NULL, &io) != OCLA_SUCCESS, "NULL params refused");
    check(ocla_attention_forward(g_ctx, &p, NULL) != OCLA_SUCCESS, "NULL io refused");
    int mk = 0, mv = 0;
    check_status(ocla_attention_limits(g_ctx, &p, &mk, &mv), g_ctx);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g);
    ocla_tensor_destroy(o), ocla_tensor_destroy(s0), ocla_tensor_destroy(s1);
}

/* ---- gemm descriptors over small tensors ---- */
static void fuzz_gemm(rd *r) {
    ocla_gemm_desc d;
    ocla_gemm_desc_defaults(&d);
    d.trans_a = u8(r) & 1, d.trans_b = u8(r) & 1;
    d.m = (size_t)dimv(r), d.n = (size_t)dimv(r), d.k = (size_t)dimv(r), d.batch = (size_t)dimv(r);
    uint8_t f = u8(r);
    if (f & 1) d.lda = (size_t)dimv(r), d.ldb = (size_t)dimv(r), d.ldc = (size_t)dimv(r);
    if (f & 2) d.stride_a = (size_t)dimv(r), d.stride_b = (size_t)dimv(r), d.stride_c = (size_t)dimv(r);
    if (f & 4) d.a_offset = (size_t)dimv(r), d.b_offset = (size_t)dimv(r), d.c_offset = (size_t)dimv(r);
    if (f & 8) d.size = (size_t)dimv(r); /* the struct's size field: 0, too small, too large (newer) */
    check(ocla_gemm(NULL, &d, g_pool, g_pool, g_pool) != OCLA_SUCCESS, "NULL context refused");
    if (!g_ctx || !g_pool) return;
    /* Run only descriptors whose work is small (m*n*k*batch <= 2^22); the rest is validated by
     * calling with a NULL C first, which must be refused before anything is enqueued. */
    double work = (double)d.m * (double)d.n * (double)d.k * (double)d.batch;
    check(ocla_gemm(g_ctx, &d, g_pool, g_pool, NULL) == OCLA_ERR_INVALID_ARGUMENT, "NULL C refused");
    if (work > 4194304.0) return;
    ocla_tensor *a = NULL, *b = NULL, *c = NULL;
    int64_t n1 = 4096, n2 = 4096, n3 = 8192;
    ocla_tensor_view(g_ctx, g_pool, 0, 1, &n1, NULL, &a);
    ocla_tensor_view(g_ctx, g_pool, 4096, 1, &n2, NULL, &b);
    ocla_tensor_view(g_ctx, g_pool, 8192, 1, &n3, NULL, &c);
    ocla_status st = ocla_gemm(g_ctx, &d, a, b, c);
    check_status(st, g_ctx);
    ocla_tensor_destroy(a), ocla_tensor_destroy(b), ocla_tensor_destroy(c);
}

/* ---- every op of the op table: fuzzed shape, chunk and one broken (or offset) tensor ---- */
static void fuzz_ops(rd *r) {
    const op_entry *e = op_get(u8(r) % op_count());
    op_shape s = e->shapes[u8(r) % e->n_shapes];
    const uint8_t f = u8(r);
    if (f & 1) s.T = (int)(u8(r) % 72); /* 0 (refused), 1, partial chunks, several chunks */
    if (f & 2) s.B = (int)(u8(r) % 3);
    if (f & 4) { /* forced chunks / blocks: valid ones, and ones every op must refuse */
        static const int chunks[] = {0, -1, 1, 3, 8, 15, 16, 17, 32, 64, 100000, -100000};
        s.chunk = chunks[u8(r) % (sizeof chunks / sizeof chunks[0])];
    }
    op_case *c = op_case_new(e, &s, u8(r));
    if (!c) return;
    if (f & 8) {
        c->mut.kind = (op_mutation_kind)(1 + u8(r) % 6);
        c->mut.index = u8(r) % c->n;
        c->mut.axis = u8(r) % (c->mut.kind == OP_MUT_ALIAS ? c->n : 4);
        static const int deltas[] = {-2, -1, 1, 2, 7};
        c->mut.delta = c->mut.kind == OP_MUT_OFFSET ? 1 + u8(r) % 64 : deltas[u8(r) % 5];
    }
    const size_t cap = c->n_out ? c->n_out : 1;
    float *out = malloc(cap * sizeof *out), *plain = malloc(cap * sizeof *plain);
    size_t n = 0;
    ocla_status st = out && plain ? op_run(g_ctx, c, out, cap, &n) : OCLA_ERR_OUT_OF_MEMORY;
    check_status(st, g_ctx);
    const int valid = !c->bad && !(f & 4) && out && plain;
    if (valid && c->mut.kind == OP_MUT_NONE) {
        check(st == OCLA_SUCCESS, "a valid call of a table op succeeds");
        check(n == c->n_out, "every output downloaded");
        for (size_t i = 0; i < n; i++) check(isfinite(out[i]), "outputs are finite");
    }
    /* the aliasing rule (issue 16): a pure output (not an in/out array) on an input's memory, or as a
     * view with a zero stride, is never run; the in-place state update is the one exception */
    const op_array *mo = &c->a[c->mut.index], *ma = &c->a[c->mut.axis];
    int64_t nel_o = mo->ndim ? 1 : 0, nel_a = ma->ndim ? 1 : 0;
    for (int d = 0; d < mo->ndim; d++) nel_o *= mo->dims[d] > 0 ? mo->dims[d] : 0;
    for (int d = 0; d < ma->ndim; d++) nel_a *= ma->dims[d] > 0 ? ma->dims[d] : 0;
    if (c->mut.kind == OP_MUT_ALIAS && c->mut.axis < c->mut.index && nel_o > 0 && nel_a > 0 && mo->output &&
        !mo->host && !ma->output && !(!strcmp(ma->name, "initial_state") && !strcmp(mo->name, "final_state")) &&
        !(!strcmp(ma->name, "initial_z") && !strcmp(mo->name, "final_z")) &&
        !(strstr(c->op->name, "gau") && !strcmp(ma->name, "x") && !strcmp(mo->name, "y")))
        check(st != OCLA_SUCCESS, "an output on an input's memory is refused");
    if (c->mut.kind == OP_MUT_BCAST && nel_o > 1 && mo->output && !mo->host)
        check(st != OCLA_SUCCESS, "an output view with a zero stride is refused");
    if (valid && c->mut.kind == OP_MUT_OFFSET) {
        /* a tensor at a buffer offset: the same result as at offset 0 (to rounding: CLBlast may pick
         * another kernel for offset operands), or a refusal that says so (a layout the op does not take) */
        check(st == OCLA_SUCCESS || st == OCLA_ERR_SHAPE || st == OCLA_ERR_INVALID_ARGUMENT,
              "an offset view is run or refused as a layout, nothing else");
        if (st == OCLA_SUCCESS) {
            c->mut.kind = OP_MUT_NONE;
            size_t m = 0;
            check(op_run(g_ctx, c, plain, cap, &m) == OCLA_SUCCESS && m == n,
                  "the same call without the offset succeeds");
            double maxref = 0, maxdiff = 0;
            for (size_t i = 0; i < n; i++) {
                double d = fabs((double)out[i] - plain[i]);
                if (fabs((double)plain[i]) > maxref) maxref = fabs((double)plain[i]);
                if (!(d <= maxdiff)) maxdiff = d;
            }
            check(maxdiff <= 1e-4 * (maxref > 1e-30 ? maxref : 1e-30), "an offset view gives the same result");
        }
    }
    free(out), free(plain);
    op_case_free(c);
}

/* ---- devices, selectors, options ---- */
static void fuzz_devices(rd *r) {
    char sel[40];
    size_t n = r->n < sizeof sel - 1 ? r->n : sizeof sel - 1;
    memcpy(sel, r->p, n);
    sel[n] = 0;
    r->p += n, r->n -= n;
    size_t idx = (size_t)-5;
    ocla_status st = ocla_device_select(sel, &idx);
    check_status(st, NULL);
    size_t count = 0;
    check(ocla_device_count(&count) == OCLA_SUCCESS, "device count");
    if (st == OCLA_SUCCESS) check(idx < count, "selected index exists");
    check(ocla_device_select(sel, NULL) == OCLA_ERR_INVALID_ARGUMENT, "NULL index refused");
    ocla_device_info info;
    size_t gi = n ? (size_t)(uint8_t)sel[0] : 0;
    st = ocla_device_get_info(gi, &info);
    check_status(st, NULL);
    check((st == OCLA_SUCCESS) == (gi < count), "info exists exactly for present devices");
    /* invalid context options are refused before any device work */
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = sel;
    o.cache_mode = (ocla_cache_mode)(3 + (int)(n % 5));
    o.log_level = (ocla_log_level)(-1 - (int)(n % 3));
    ocla_context *ctx = (ocla_context *)1;
    st = ocla_context_create(&o, &ctx);
    check(st == OCLA_ERR_INVALID_ARGUMENT && ctx == NULL, "bad options refused");
    check(ocla_context_create(&o, NULL) == OCLA_ERR_INVALID_ARGUMENT, "NULL out refused");
    check(ocla_context_wrap(NULL, NULL, NULL, &o, &ctx) == OCLA_ERR_INVALID_ARGUMENT && ctx == NULL,
          "wrap of NULL objects refused");
    (void)ocla_status_string((ocla_status)(int8_t)(n * 37));
    (void)ocla_vendor_name((ocla_vendor)(int8_t)(n * 41));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    g_input = data, g_input_size = size;
    rd r = {data + 1, size - 1};
    if (data[0] >= 0xC0) {
        if (g_ctx) fuzz_ops(&r);
    } else {
        switch (data[0] % 6) {
        case 0: fuzz_plan(&r); break;
        case 1: fuzz_tensor_create(&r); break;
        case 2: fuzz_tensor_wrap(&r); break;
        case 3: if (g_ctx && g_pool) fuzz_attention(&r); break;
        case 4: fuzz_gemm(&r); break;
        default: fuzz_devices(&r); break;
        }
    }
    if (g_ctx && g_pool) { /* the context is still usable */
        float x[4] = {1, 2, 3, 4}, y[4] = {0};
        ocla_tensor *t = NULL;
        int64_t d = 4;
        check(ocla_tensor_view(g_ctx, g_pool, POOL_FLOATS - 4, 1, &d, NULL, &t) == OCLA_SUCCESS, "view");
        check(ocla_tensor_upload(g_ctx, t, x, sizeof x) == OCLA_SUCCESS, "upload after the input");
        check(ocla_tensor_download(g_ctx, t, y, sizeof y) == OCLA_SUCCESS && !memcmp(x, y, sizeof x),
              "download after the input");
        ocla_tensor_destroy(t);
    }
    return 0;
}
