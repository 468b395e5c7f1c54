/* SPDX-License-Identifier: MIT */
/* The safetensors header: an 8-byte little-endian length N, then N bytes of JSON, an object of
 * name -> {"dtype", "shape", "data_offsets": [begin, end]} and an optional "__metadata__" object of
 * strings. Offsets count from the first byte after the header. Checked here: the length, the JSON
 * (jansson, duplicate keys refused), each entry's fields, dtype x shape against the offsets, and
 * that the tensors tile the data without overlap or hole (as safetensors' own reader requires).
 * Also the dtype conversions to fp32. */
#if OCLA_HAVE_JANSSON
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define FAIL(st, ...) ocla__fail(NULL, (st), __VA_ARGS__)

size_t ocla__st_dtype_size(ocla_model_dtype dtype) { return dtype == OCLA_MODEL_F32 ? 4 : 2; }

char *ocla__model_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

ocla_status ocla__st_header_length(const uint8_t prefix[8], uint64_t file_size, const char *file, uint64_t *n) {
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = (len << 8) | prefix[i];
    *n = 0;
    if (len == 0) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: header length 0 (no JSON header)", file);
    if (len > OCLA__ST_MAX_HEADER)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: header length %llu above safetensors' limit of %u bytes", file,
                    (unsigned long long)len, OCLA__ST_MAX_HEADER);
    if (file_size != UINT64_MAX && (file_size < OCLA__ST_PREFIX || len > file_size - OCLA__ST_PREFIX))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: header length %llu past the end of the file (%llu bytes)", file,
                    (unsigned long long)len, (unsigned long long)file_size);
    *n = len;
    return OCLA_SUCCESS;
}

static int parse_dtype(const char *s, ocla_model_dtype *dtype) {
    if (!strcmp(s, "F32")) *dtype = OCLA_MODEL_F32;
    else if (!strcmp(s, "BF16")) *dtype = OCLA_MODEL_BF16;
    else if (!strcmp(s, "F16")) *dtype = OCLA_MODEL_F16;
    else return 0;
    return 1;
}

/* a JSON integer >= 0 */
static int get_count(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static ocla_status parse_tensor(const char *file, const char *name, json_t *v, ocla__st_tensor *t) {
    if (!json_is_object(v))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': not an object", file, name);
    const char *key;
    json_t *field;
    json_object_foreach(v, key, field) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': unknown field '%s'", file, name, key);
    }
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dtype))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': dtype missing or not a string", file, name);
    if (!parse_dtype(json_string_value(dtype), &t->dtype))
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: tensor '%s': dtype '%s' (ocla reads F32, BF16 and F16)", file, name,
                    json_string_value(dtype));
    if (!json_is_array(shape))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': shape missing or not an array", file, name);
    if (json_array_size(shape) > OCLA_MAX_DIMS)
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: tensor '%s': shape of %zu dims (at most %d)", file, name,
                    json_array_size(shape), OCLA_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (!get_count(json_array_get(shape, (size_t)i), &d) || d > INT64_MAX)
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': shape[%d] not an integer >= 0", file, name, i);
        t->dims[i] = (int64_t)d;
        if (d > SIZE_MAX || !ocla__mul_ok(numel, (size_t)d, &numel))
            return FAIL(OCLA_ERR_OVERFLOW, "%s: tensor '%s': shape overflows", file, name);
    }
    size_t bytes;
    if (!ocla__mul_ok(numel, ocla__st_dtype_size(t->dtype), &bytes))
        return FAIL(OCLA_ERR_OVERFLOW, "%s: tensor '%s': size overflows", file, name);
    t->numel = numel;
    if (!json_is_array(off) || json_array_size(off) != 2 || !get_count(json_array_get(off, 0), &t->begin) ||
        !get_count(json_array_get(off, 1), &t->end))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data_offsets not two integers >= 0", file, name);
    if (t->end < t->begin)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data_offsets [%llu, %llu] end before begin", file,
                    name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end - t->begin != (uint64_t)bytes)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT,
                    "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, dtype x shape needs %zu", file, name,
                    (unsigned long long)t->begin, (unsigned long long)t->end,
                    (unsigned long long)(t->end - t->begin), bytes);
    return OCLA_SUCCESS;
}

static int by_begin(const void *a, const void *b) {
    const ocla__st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end; /* zero-size tensors first at a shared begin */
}

static ocla_status check_metadata(const char *file, json_t *v) {
    if (!json_is_object(v))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: __metadata__ is not an object", file);
    const char *key;
    json_t *s;
    json_object_foreach(v, key, s) {
        if (!json_is_string(s))
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: __metadata__ '%s' is not a string", file, key);
    }
    return OCLA_SUCCESS;
}

/* The tensors sorted by begin must tile [0, data_size): each begins where the previous ended. */
static ocla_status check_tiling(const char *file, ocla__st_header *h) {
    qsort(h->tensors, h->n, sizeof *h->tensors, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < h->n; i++) {
        const ocla__st_tensor *t = &h->tensors[i];
        if (t->begin < at)
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap '%s'", file,
                        t->name, (unsigned long long)t->begin, (unsigned long long)t->end, h->tensors[i - 1].name);
        if (t->begin > at)
            return FAIL(OCLA_ERR_INVALID_ARGUMENT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] leave bytes [%llu, %llu) that no tensor holds",
                        file, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                        (unsigned long long)at, (unsigned long long)t->begin);
        at = t->end;
    }
    h->data_size = at;
    return OCLA_SUCCESS;
}

void ocla__st_header_free(ocla__st_header *h) {
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) free(h->tensors[i].name);
    free(h->tensors);
    memset(h, 0, sizeof *h);
}

ocla_status ocla__st_parse_header(const char *json, size_t len, const char *file, ocla__st_header *out) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: header is not valid JSON: %s (byte %d of the header)", file,
                    jerr.text, jerr.position);
    ocla_status st = OCLA_SUCCESS;
    if (!json_is_object(root)) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: header is not a JSON object", file);
        goto done;
    }
    size_t cap = json_object_size(root);
    out->tensors = calloc(cap ? cap : 1, sizeof *out->tensors);
    if (!out->tensors) {
        st = FAIL(OCLA_ERR_OUT_OF_MEMORY, "%s: no memory for %zu tensor entries", file, cap);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if ((st = check_metadata(file, v)) != OCLA_SUCCESS) goto done;
            continue;
        }
        ocla__st_tensor *t = &out->tensors[out->n];
        if ((st = parse_tensor(file, key, v, t)) != OCLA_SUCCESS) goto done;
        if (!(t->name = ocla__model_strdup(key))) {
            st = FAIL(OCLA_ERR_OUT_OF_MEMORY, "%s: no memory for tensor names", file);
            goto done;
        }
        out->n++;
    }
    st = check_tiling(file, out);
done:
    json_decref(root);
    if (st != OCLA_SUCCESS) ocla__st_header_free(out);
    return st;
}

ocla_status ocla__st_parse_image(const void *image, size_t size, const char *file, ocla__st_header *out) {
    memset(out, 0, sizeof *out);
    if (size < OCLA__ST_PREFIX)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: truncated: %zu bytes, shorter than the 8-byte header length", file,
                    size);
    const uint8_t *p = image;
    uint64_t n;
    ocla_status st = ocla__st_header_length(p, size, file, &n);
    if (st != OCLA_SUCCESS) return st;
    if ((st = ocla__st_parse_header((const char *)p + OCLA__ST_PREFIX, (size_t)n, file, out)) != OCLA_SUCCESS)
        return st;
    if ((st = ocla__st_check_data_size(out, size - OCLA__ST_PREFIX - n, file)) != OCLA_SUCCESS)
        ocla__st_header_free(out);
    return st;
}

ocla_status ocla__st_check_data_size(const ocla__st_header *h, uint64_t data, const char *file) {
    if (data > h->data_size)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: %llu bytes past the last tensor (the tensors hold %llu bytes)",
                    file, (unsigned long long)(data - h->data_size), (unsigned long long)h->data_size);
    for (size_t i = 0; i < h->n; i++) /* sorted by begin: the first one that does not fit */
        if (h->tensors[i].end > data)
            return FAIL(OCLA_ERR_INVALID_ARGUMENT,
                        "%s: truncated: tensor '%s' data_offsets [%llu, %llu] past the end of the data (%llu bytes)",
                        file, h->tensors[i].name, (unsigned long long)h->tensors[i].begin,
                        (unsigned long long)h->tensors[i].end, (unsigned long long)data);
    return OCLA_SUCCESS;
}

void ocla__st_to_f32(ocla_model_dtype dtype, const uint8_t *b, size_t count, float *out) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        if (dtype == OCLA_MODEL_F32) {
            bits = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                   (uint32_t)b[4 * i + 3] << 24;
        } else {
            uint16_t h = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
            if (dtype == OCLA_MODEL_F16) {
                out[i] = ocla_f16_to_f32(h); /* runtime/dtype.c: exact, subnormals and NaN payloads kept */
                continue;
            }
            bits = (uint32_t)h << 16; /* bf16 is the high half of an fp32 */
        }
        memcpy(&out[i], &bits, 4);
    }
}
#else
typedef int ocla__safetensors_unused; /* built without jansson: runtime/model_unavailable.c */
#endif
