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

#endif
