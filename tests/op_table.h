/* SPDX-License-Identifier: MIT */
/* The op table: one entry per public op and form, shared by
 *
 *   tests/test_op_table.c       every entry vs its fp64 reference, on every device, at its shapes;
 *   tests/test_args.c           every array with each dim wrong and from another context: refused,
 *                               named, nothing written;
 *   tests/test_magnitudes.c     rows of one input scaled 1e-5 ... 1e3 and zero, rowwise errors;
 *   tests/test_params.c         the attention entries with non-default parameters (op_attn_opts);
 *   tests/test_faults.c         enqueue failures at every position, device loss, nothing on stdout;
 *   tests/test_concurrency.c    threads with own / shared contexts, results bit-identical;
 *   tests/tools/leak_cycle.c    create / run every op / destroy, 100 times under LeakSanitizer;
 *   tests/fuzz/fuzz_api.c       every op with fuzzed shapes, chunks and broken tensors;
 *   perf/ops.c (ocla-bench --ops) each entry's call timed alone, with its cost model (flops, bytes).
 *
 * So a new op, form or dtype is registered once, in OP_TABLE (tests/op_table.c), and is checked
 * everywhere. No Criterion here (the leak tool and the fuzzer are plain programs); public API only.
 *
 * An entry describes its op through four functions:
 *   make(c)          the host inputs of shape c->s (seeded by c->seed: deterministic) and the dims of
 *                    its outputs, as an ordered list of arrays (op_in / op_out below);
 *   call(ctx, c, t)  the public API call(s), given a device tensor for every array (NULL where an
 *                    array is absent: optional inputs such as an initial state);
 *   reference(c, r)  the fp64 value of every output array, concatenated in registration order,
 *                    from the fp64 C references of tests/ref/;
 *   cost(s, f, b)    the nominal flops and bytes of one call at shape s (ocla-bench's convention).
 * op_run() does the rest, the same way for every op: create and upload every tensor, call, download
 * every output, destroy everything, on every path (success or failure). A call is a self-contained
 * unit that a harness can repeat, run from several threads, or break at every enqueue.
 *
 * OCLA_ERR_UNSUPPORTED from an entry means "not on this device" (a device without what the op
 * needs); every harness skips it there and says so. Every entry runs on PoCL and rusticl today.
 *
 * dtypes: op_run makes OCLA_F32 tensors (OP_MUT_DTYPE makes one array bf16 or fp16: every op refuses
 * that today, tests/test_half_refused.c); an entry computing in half is a cfg (or a shape field) that
 * make / call / reference convert for, with its own tolerance. */
#ifndef OCLA_TESTS_OP_TABLE_H
#define OCLA_TESTS_OP_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <ocla/ocla.h>

#define OP_MAX_ARRAYS 24
#define OP_MAX_SHAPES 3

/* A shape. The fields mean the same for every family where they apply; per family:
 *   attention, softmax, backward  q,k [B,T,H,K], v,o [B,T,H,V]; chunk = forced chunk (softmax: block)
 *   flash       qq,kq,ql,kl [B,T,H,K] (K = S), v,o [B,T,H,V] (V = E); chunk = C
 *   linformer   q,k [B,T,H,K], v [B,T,H,V]; E, F [P, N] with N >= T the sequence capacity
 *   gemm        C[B][T x V] = A[B][T x K] B[B][K x V] (B = batch, m = T, k = K, n = V)
 *   linear/sgd  x [B,T,K], w [K,V]; gate: x [B,T,H,K]
 *   gla layer   x [B,T,D], H heads of K/V, gate rank P;  mha layers: x [B,T,D], H heads of K/V,
 *               Linformer E, F [P, N];  gau layer: x [B,T,D], e = V, s = K, chunk = C */
typedef struct op_shape {
    int B, T, H, K, V;
    int D;     /* model width (layers) */
    int P, N;  /* a second length: Linformer kp / n, GLA layer gate rank */
    int chunk; /* forced chunk or block; 0 = the op's default or the scheduler's pick */
} op_shape;

typedef struct op_array {
    const char *name;
    int ndim; /* 0: absent (a NULL tensor) */
    int64_t dims[4];
    float *host; /* input values (and initial values of in/out arrays); NULL: zeros */
    int output;  /* downloaded after the call */
    int stage;   /* which of the entry's public calls first takes it (0: the first; op_next_call) */
} op_array;

/* Fuzz hooks: op_run builds array `index` differently. */
typedef enum op_mutation_kind {
    OP_MUT_NONE = 0,
    OP_MUT_NULL,   /* a NULL tensor in its place */
    OP_MUT_DIM,    /* dims[axis] += delta (contents zero) */
    OP_MUT_NDIM,   /* one dim more (a trailing 1) or, with delta < 0, one less */
    OP_MUT_OFFSET, /* a view at element offset `delta` of a larger buffer (same result, or refused) */
    OP_MUT_ALIAS,  /* the tensor of array `axis` (an alias of another argument); with delta 1, a view
                      of its memory with this array's own dims (OCLA_ERR_SHAPE where it does not fit) */
    OP_MUT_BCAST,  /* a view with stride 0 along its first dim of more than one element (overlapping
                      elements; an output must be refused) */
    OP_MUT_FOREIGN, /* the tensor made on the context `foreign` (another context, same device): refused */
    OP_MUT_DTYPE    /* the tensor of dtype `delta` (an ocla_dtype), its values converted (tests/test_half_refused.c) */
} op_mutation_kind;
typedef struct op_mutation {
    op_mutation_kind kind;
    int index, axis, delta;
    ocla_context *foreign; /* OP_MUT_FOREIGN */
    int also;              /* OP_MUT_DIM: array also - 1 changed the same way (a pair whose dims must
                              agree, e.g. Linformer's E and F); 0: none */
} op_mutation;

typedef struct op_entry op_entry;

/* Non-default attention parameters for the attention entries, forward and backward
 * (tests/test_params.c): the entry's call and its fp64 reference both take them. A zero field keeps
 * the entry's own value. */
typedef struct op_attn_opts {
    int has_scale;
    float scale;
    int set_eps; /* with normalize */
    float eps;
    int set_fmap;
    ocla_feature_map fmap;
    const float *fixed_log_decay; /* [H], gate FIXED; NULL: RetNet's */
    int chunk;                    /* 0: the shape's */
} op_attn_opts;

typedef struct op_case {
    const op_entry *op;
    op_shape s;
    uint32_t seed;
    int n;                  /* arrays */
    op_array a[OP_MAX_ARRAYS];
    size_t n_out;           /* floats over every present output array */
    int stage;              /* the stage of the next array registered (op_next_call) */
    int bad;                /* make saw a shape it cannot fill (fuzz): arrays keep their dims, no host data */
    op_mutation mut;
    const op_attn_opts *attn; /* NULL: the entry's parameters */
} op_case;

struct op_entry {
    const char *name;   /* unique and stable: harness messages, filters */
    const char *family; /* attention, blas, softmax, flash, linformer, backward, block, layer */
    const char *api;    /* the public function(s) it exercises */
    op_shape shapes[OP_MAX_SHAPES]; /* shapes[0]: the reliability harnesses' shape; all: accuracy */
    int n_shapes;
    double tol;         /* per output array, normwise max relative error vs fp64 (tc_max_rel_err) */
    void (*make)(op_case *c);
    ocla_status (*call)(ocla_context *ctx, const op_case *c, ocla_tensor *const *t);
    void (*reference)(const op_case *c, double *ref);
    /* ocla-bench: nominal work of one call (flops, bytes moved: inputs read + outputs written once),
     * and the bench's method/mode names where the bench has this op ("linear/fwd", NULL if none). */
    void (*cost)(const op_shape *s, double *flops, double *bytes);
    const char *bench;
    const void *cfg;    /* the entry's own constants (gate kind, form, ...) */
};

/* ---- the table ---- */
int op_count(void);
const op_entry *op_get(int i);
const op_entry *op_find(const char *name); /* NULL if none */

/* ---- cases ---- */
/* Host inputs of e at shape s (NULL: e->shapes[0]); NULL only when out of memory. A shape make
 * cannot fill (zero or negative sizes: fuzzing) gives a case with c->bad set whose run fails with
 * the op's own status. */
op_case *op_case_new(const op_entry *e, const op_shape *s, uint32_t seed);
void op_case_free(op_case *c);
/* One case per entry at its shapes[0] (what the reliability harnesses run), op_count() of them in
 * table order; NULL when out of memory. */
op_case **op_cases_default(uint32_t seed);
void op_cases_free(op_case **cases);
/* Run c on ctx: tensors, call, outputs into out[0 .. *n) (out may be NULL: nothing downloaded;
 * cap = capacity of out in floats; more is OCLA_ERR_INVALID_ARGUMENT). Everything is released. */
ocla_status op_run(ocla_context *ctx, const op_case *c, float *out, size_t cap, size_t *n);

/* The same in pieces, for a caller that times the call alone (ocla-bench): the device tensors of
 * every array of c (uploaded; outputs zero; NULL where absent), then c->op->call(ctx, c, ts.t) as
 * often as wanted, then op_tensors_destroy. On failure nothing is left allocated. */
typedef struct op_tensors {
    ocla_tensor *t[OP_MAX_ARRAYS];
    ocla_tensor *parent[OP_MAX_ARRAYS]; /* buffers of offset views (fuzzing) */
    int alias[OP_MAX_ARRAYS];
} op_tensors;
ocla_status op_tensors_create(ocla_context *ctx, const op_case *c, op_tensors *ts);
void op_tensors_destroy(op_tensors *ts);

/* fp64 reference of every output, in the order op_run writes them (malloc'd, c->n_out values);
 * NULL when the entry has none or the case is bad. */
double *op_reference(const op_case *c);
/* op_run into *out (malloc'd, c->n_out floats) and, on success, the reference into *ref (op_reference);
 * both NULL on failure (OCLA_ERR_OUT_OF_MEMORY when the host is out of memory or there is no reference). */
ocla_status op_run_reference(ocla_context *ctx, const op_case *c, float **out, double **ref);

/* Output array i's slice of the concatenated outputs: returns its length, *off its start; -1 when
 * array i is not a present output. */
long op_output_span(const op_case *c, int i, size_t *off);

/* ---- for the entries' make functions (tests/op_table*.c) ---- */
/* Register an input of uniform values in [lo, hi) (seeded by c->seed and its position). */
int op_in(op_case *c, const char *name, int ndim, const int64_t *dims, float lo, float hi);
/* An input with normal values (stddev sd). */
int op_in_normal(op_case *c, const char *name, int ndim, const int64_t *dims, float sd);
/* An absent array (a NULL tensor) keeping the positions of the ones after it fixed. */
int op_absent(op_case *c, const char *name);
/* An output, zero before the call. */
int op_out(op_case *c, const char *name, int ndim, const int64_t *dims);
/* An output with initial values (updated in place, e.g. an SGD parameter, an accumulated gradient). */
int op_inout(op_case *c, const char *name, int ndim, const int64_t *dims, float lo, float hi);
/* An entry whose call makes several public calls (forward, then backward, ...): the arrays
 * registered after this are first taken by the next call. A harness that breaks one array knows
 * that the calls before its stage ran, and may have written their outputs (tests/test_args.c). */
void op_next_call(op_case *c);
#define OP_D(...) ((const int64_t[]){__VA_ARGS__})

#endif
