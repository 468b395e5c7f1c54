/* SPDX-License-Identifier: MIT */
/* Internal interfaces of the checkpoint loader (include/ocla/model.h): the safetensors header parser
 * (runtime/safetensors.c), the config reader (runtime/model_config.c), the expected tensors of a
 * config (runtime/model_tensors.c) and the loader (runtime/model_load.c). Built where jansson is
 * found (OCLA_HAVE_JANSSON); runtime/model_unavailable.c stands in otherwise. Every function reports
 * a failure through ocla__fail(NULL, ...): the detail of ocla_last_error(NULL). */
#ifndef OCLA_MODEL_INTERNAL_H
#define OCLA_MODEL_INTERNAL_H

#include "internal.h"
#include "ocla/model.h"

/* safetensors: an 8-byte little-endian header length N, N bytes of JSON, then the data. */
#define OCLA__ST_PREFIX 8u
#define OCLA__ST_MAX_HEADER 100000000u /* safetensors' own limit on N (100 MB) */

typedef struct ocla__st_tensor {
    char *name;
    ocla_model_dtype dtype;
    int ndim;
    int64_t dims[OCLA_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* data_offsets: bytes from the start of the data */
} ocla__st_tensor;

typedef struct ocla__st_header {
    ocla__st_tensor *tensors; /* sorted by begin: contiguous from 0 to data_size, no holes */
    size_t n;
    uint64_t data_size; /* the bytes the data must hold: the last tensor's end */
} ocla__st_header;

/* The header length of an 8-byte prefix; refuses 0, a length above OCLA__ST_MAX_HEADER and, where
 * file_size is known (not UINT64_MAX), one past its end. file names the file in the detail. */
ocla_status ocla__st_header_length(const uint8_t prefix[8], uint64_t file_size, const char *file, uint64_t *n);
/* Parse and check the JSON header (json: len bytes, no terminator needed): every entry but
 * __metadata__ is a tensor {dtype, shape, data_offsets}; dtype F32, BF16 or F16; at most OCLA_MAX_DIMS
 * dims; end - begin = numel * element size; the tensors tile [0, data_size) without overlap or hole.
 * On failure *out is empty. */
ocla_status ocla__st_parse_header(const char *json, size_t len, const char *file, ocla__st_header *out);
/* The file's data (the bytes after the header) is exactly the tensors' data_size bytes. */
ocla_status ocla__st_check_data_size(const ocla__st_header *h, uint64_t data_bytes, const char *file);
/* Both on a whole file image in memory: the data must be exactly data_size bytes. */
ocla_status ocla__st_parse_image(const void *image, size_t size, const char *file, ocla__st_header *out);
void ocla__st_header_free(ocla__st_header *h);
char *ocla__model_strdup(const char *s); /* malloc'd copy (strdup is not C11) */
size_t ocla__st_dtype_size(ocla_model_dtype dtype);
/* count elements of dtype, little-endian bytes -> fp32 (exact for all three dtypes) */
void ocla__st_to_f32(ocla_model_dtype dtype, const uint8_t *bytes, size_t count, float *out);

/* config.json (text of len bytes) -> config; file names it in the detail. */
ocla_status ocla__gla_config_parse(const char *json, size_t len, const char *file, ocla_gla_config *cfg);

/* The tensors a config calls for, with their shapes. */
typedef struct ocla__expected_tensor {
    char name[96];
    int ndim;
    int64_t dims[OCLA_MAX_DIMS];
    int optional; /* lm_head.weight of a tied model: may be absent */
} ocla__expected_tensor;
/* A malloc'd list (*count entries); NULL on allocation failure or overflow (status then set). */
ocla_status ocla__gla_expected_tensors(const ocla_gla_config *cfg, ocla__expected_tensor **list, size_t *count);

/* kernels_cl/model.cl, the whole-model steps (runtime/model_forward.c; registered in variant_list.c) */
extern const ocla_kfamily ocla__fam_model;

/* ---- the session's pieces shared by runtime/model_forward.c and runtime/model_attn.c ---- */

/* One layer's device tensors (every field an ocla_tensor pointer: the session frees them in a loop). */
typedef struct ocla__model_layer {
    ocla_tensor *attn_norm, *mlp_norm;               /* [d] */
    ocla_tensor *wq, *wk, *wv, *wr, *wg1, *wg2, *bg2; /* [in, out]; k, v, gate widened to every head; wr
                                                         NULL without the output gate */
    ocla_tensor *gnorm, *wo;                          /* [head_v], [value_dim, d] */
    ocla_tensor *w_gate, *w_up, *w_down;              /* [d, I], [d, I], [I, d] */
    ocla_tensor *state;                               /* [B, H, K, V] */
    ocla_tensor *conv_w[3];     /* use_short_conv: the q, k, v convolutions' weights [W, C] (k, v widened) */
    ocla_tensor *conv_state[3]; /* use_short_conv: [B, max(W - 1, 1), C], the last W - 1 inputs of each slot */
} ocla__model_layer;

/* The rows of one forward pass: B rows of T tokens each (dense), or B = 1 row holding n_seqs
 * sequences back to back (cu: n_seqs + 1 offsets, a packed prefill). slots: the state slot of each
 * row (sequence when packed), n_slots of them; NULL: rows 0 .. B-1 of the states (the dense batch). */
typedef struct ocla__model_rows {
    int64_t B, T;
    const int32_t *slots;
    int n_slots;
    const int32_t *cu;
    int n_seqs;
} ocla__model_rows;

/* y rows i < rows = RMSNorm(x row first + i * step of [*, d] (+= a's row, in place, when has_add)) * w
 * (kernels_cl/model.cl model_add_rmsnorm, lanes items per row). */
ocla_status ocla__model_rmsnorm(ocla_context *ctx, size_t lanes, int64_t rows, int64_t d, float eps, int64_t first,
                                int64_t step, int has_add, ocla_tensor *x, const ocla_tensor *a, const ocla_tensor *w,
                                ocla_tensor *y);
/* n int32 values into *buf (a device buffer of *cap values, replaced by a larger one when needed). */
ocla_status ocla__model_upload_ints(ocla_context *ctx, cl_mem *buf, int64_t *cap, const int32_t *v, int64_t n,
                                    const char *what);

/* fla's GatedLinearAttention with the options ocla_gla_layer_forward has no form for (runtime/model_attn.c):
 * feature_map on q and k, short convolutions of q, k, v (their states in the layer's conv_state),
 * no output gate (o = RMSNorm(o) g_norm), clamp_min on the log gates. */
#define OCLA__MODEL_ATTN_TMP 13
typedef struct ocla__model_attn {
    int feature_map;     /* ocla_model_feature_map: model_map's op */
    int has_clamp;       /* clamp_min set */
    float clamp_min;
    int use_output_gate;
    int64_t W;           /* conv_size; 0: no short convolutions */
    int64_t H, K, V;
    float eps, tau;
    size_t lanes; /* the session's model_add_rmsnorm local size */
    ocla_tensor *t[OCLA__MODEL_ATTN_TMP]; /* temporaries, grown on demand */
    int64_t cap[OCLA__MODEL_ATTN_TMP];
    cl_mem info; /* the convolutions' row and sequence table */
    int64_t info_cap;
} ocla__model_attn;
/* Whether a config needs this block (else the session runs ocla_gla_layer_forward). */
int ocla__model_attn_needed(const ocla_gla_config *c);
/* a3 [B,T,d] = the block on h3 [B,T,d], continuing from and leaving the layer's states. */
ocla_status ocla__model_attn_forward(ocla_context *ctx, ocla__model_attn *m, const ocla__model_layer *ly,
                                     const ocla__model_rows *b, ocla_attn_form form, const ocla_tensor *h3,
                                     ocla_tensor *a3);
void ocla__model_attn_free(ocla__model_attn *m);

#endif
