/* SPDX-License-Identifier: MIT */
/* The model API (include/ocla/model.h) in a build without jansson: every call says so. The library
 * keeps the same exported functions with or without the loader. */
#if !OCLA_HAVE_JANSSON
#include "internal.h"
#include "ocla/model.h"

#define WHY "ocla was built without jansson (Debian: libjansson-dev): the checkpoint loader is not compiled in"

ocla_status ocla_model_open(const char *dir, ocla_model **out) {
    (void)dir;
    if (out) *out = NULL;
    return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED, "ocla_model_open: " WHY);
}
void ocla_model_free(ocla_model *model) { (void)model; }
const ocla_gla_config *ocla_model_config(const ocla_model *model) {
    (void)model;
    return NULL;
}
ocla_status ocla_model_tensor_get(const ocla_model *model, const char *name, ocla_model_tensor *tensor) {
    (void)model, (void)name, (void)tensor;
    return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED, "ocla_model_tensor_get: " WHY);
}
size_t ocla_model_tensor_count(const ocla_model *model) {
    (void)model;
    return 0;
}
ocla_status ocla_model_tensor_at(const ocla_model *model, size_t index, ocla_model_tensor *tensor) {
    (void)model, (void)index, (void)tensor;
    return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED, "ocla_model_tensor_at: " WHY);
}
ocla_status ocla_model_tensor_upload(ocla_context *ctx, const ocla_model *model, const char *name, ocla_tensor **out) {
    (void)model, (void)name;
    if (out) *out = NULL;
    return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_model_tensor_upload: " WHY);
}
#else
typedef int ocla__model_unavailable_unused; /* the loader is built: runtime/model_load.c */
#endif
