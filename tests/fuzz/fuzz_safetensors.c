/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the safetensors header parser (runtime/safetensors.c) and the config.json
 * reader (runtime/model_config.c) of the checkpoint loader.
 *
 * Input: byte 0 picks the mode, the rest is data.
 *   mode even: the data is a whole .safetensors file image (8-byte length, JSON header, data);
 *              ocla__st_parse_image either refuses it (detail set, nothing returned) or returns
 *              tensors that tile the data exactly: sorted, contiguous from 0 to the end of the
 *              image, each of numel x element size bytes, names unique; every tensor's bytes are
 *              then converted to fp32 from the image (an exact-size heap block, so ASan sees any
 *              read past it).
 *   mode odd:  the data is JSON text: parsed as a safetensors header and as a config.json. An
 *              accepted header (data below 1 MiB) is wrapped into an image with zero data, which
 *              must parse to the same tensors, and must be refused one byte shorter or longer. An
 *              accepted config has consistent derived sizes and a tensor list.
 * Any crash, out-of-bounds read (ASan), undefined behaviour (UBSan) or leak is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#if OCLA_HAVE_JANSSON

static void check(int cond) {
    if (!cond) __builtin_trap();
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The invariants of an accepted header; image (optional) holds the data at data_at. */
static void check_accepted(const ocla__st_header *h, const uint8_t *image, size_t data_at) {
    uint64_t at = 0;
    char **names = malloc((h->n ? h->n : 1) * sizeof *names);
    check(names != NULL);
    for (size_t i = 0; i < h->n; i++) {
        const ocla__st_tensor *t = &h->tensors[i];
        check(t->name != NULL && t->begin == at && t->end >= t->begin);
        check(t->ndim >= 0 && t->ndim <= OCLA_MAX_DIMS);
        uint64_t numel = 1;
        for (int k = 0; k < t->ndim; k++) {
            check(t->dims[k] >= 0);
            numel *= (uint64_t)t->dims[k];
        }
        check(numel == t->numel && t->end - t->begin == numel * ocla__st_dtype_size(t->dtype));
        if (image && numel) {
            float *out = malloc((size_t)numel * sizeof(float));
            check(out != NULL);
            ocla__st_to_f32(t->dtype, image + data_at + t->begin, (size_t)numel, out);
            free(out);
        }
        names[i] = t->name;
        at = t->end;
    }
    check(at == h->data_size);
    qsort(names, h->n, sizeof *names, by_name);
    for (size_t i = 1; i < h->n; i++) check(strcmp(names[i - 1], names[i]) != 0);
    free(names);
}

static void check_refused(ocla_status st, const ocla__st_header *h) {
    check(st != OCLA_ERR_INTERNAL);
    check(h->tensors == NULL && h->n == 0);
    check(ocla_last_error(NULL)[0] != 0);
}

static void fuzz_image(const uint8_t *data, size_t size) {
    uint8_t *img = malloc(size ? size : 1); /* exact size: ASan catches reads past the end */
    check(img != NULL);
    if (size) memcpy(img, data, size);
    ocla__st_header h;
    ocla_status st = ocla__st_parse_image(img, size, "fuzz.safetensors", &h);
    if (st == OCLA_SUCCESS) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | img[i];
        check(OCLA__ST_PREFIX + n + h.data_size == size);
        check_accepted(&h, img, OCLA__ST_PREFIX + (size_t)n);
        ocla__st_header_free(&h);
    } else
        check_refused(st, &h);
    free(img);
}

/* An accepted header with zero data around it: the same tensors; one byte less or more refused. */
static void wrap_header(const char *json, size_t len, const ocla__st_header *h) {
    if (h->data_size > (1u << 20)) return;
    const size_t size = OCLA__ST_PREFIX + len + (size_t)h->data_size;
    uint8_t *img = calloc(size + 1, 1);
    check(img != NULL);
    for (int b = 0; b < 8; b++) img[b] = (uint8_t)((uint64_t)len >> (8 * b));
    memcpy(img + OCLA__ST_PREFIX, json, len);
    ocla__st_header again;
    check(ocla__st_parse_image(img, size, "fuzz.safetensors", &again) == OCLA_SUCCESS);
    check(again.n == h->n && again.data_size == h->data_size);
    for (size_t i = 0; i < h->n; i++)
        check(!strcmp(again.tensors[i].name, h->tensors[i].name) && again.tensors[i].begin == h->tensors[i].begin);
    ocla__st_header_free(&again);
    if (h->data_size > 0) {
        check(ocla__st_parse_image(img, size - 1, "fuzz.safetensors", &again) != OCLA_SUCCESS);
        check_refused(OCLA_ERR_INVALID_ARGUMENT, &again);
    }
    check(ocla__st_parse_image(img, size + 1, "fuzz.safetensors", &again) != OCLA_SUCCESS);
    check_refused(OCLA_ERR_INVALID_ARGUMENT, &again);
    free(img);
}

static void fuzz_config(const char *json, size_t len) {
    ocla_gla_config c;
    ocla_status st = ocla__gla_config_parse(json, len, "config.json", &c);
    check(st != OCLA_ERR_INTERNAL);
    if (st != OCLA_SUCCESS) {
        check(ocla_last_error(NULL)[0] != 0);
        return;
    }
    check(c.head_k_dim * c.num_heads == c.key_dim && c.head_v_dim * c.num_heads == c.value_dim);
    check(c.num_heads % c.num_kv_heads == 0 && c.intermediate_size > 0);
    check(c.gate_low_rank_dim == 16 && c.gate_logit_normalizer == 16);
    if (c.num_hidden_layers > 4096) return; /* the list would be large, not wrong */
    ocla__expected_tensor *list = NULL;
    size_t n = 0;
    check(ocla__gla_expected_tensors(&c, &list, &n) == OCLA_SUCCESS && n >= 5);
    free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    data++, size--;
    if (mode % 2 == 0) {
        fuzz_image(data, size);
        return 0;
    }
    const char *json = (const char *)data;
    ocla__st_header h;
    ocla_status st = ocla__st_parse_header(json, size, "fuzz.safetensors", &h);
    if (st == OCLA_SUCCESS) {
        check_accepted(&h, NULL, 0);
        wrap_header(json, size, &h);
        ocla__st_header_free(&h);
    } else
        check_refused(st, &h);
    fuzz_config(json, size);
    return 0;
}
#else
/* a build without jansson has no parser to fuzz */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)data, (void)size;
    return 0;
}
#endif
