/* SPDX-License-Identifier: MIT */
/* Kernel variants: build options formed in one place, kernels found by a compact key. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "variant.h"

/* The one gate encoding (variant.h), by ocla_gate_kind. */
static const char *const k_gate_macro[] = {"", "-DUSE_G=1", "-DUSE_GK=1", "-DUSE_G_GAMMA=1"};

ocla_variant ocla__variant(const ocla_kfamily *fam) {
    ocla_variant v = {.fam = fam};
    for (int i = 0; i < OCLA_VARIANT_TILES; i++) v.tile[i] = -1;
    return v;
}

/* The variant as its key: fields the family does not read are zeroed, tiles it has not named are
 * dropped, so two call sites that mean the same kernel share it. */
static void normalise(const ocla_variant *in, ocla_variant *out) {
    const unsigned f = in->fam->fields;
    *out = ocla__variant(in->fam);
    out->gate = (f & OCLA_VF_GATE) ? in->gate : 0;
    out->feature = (f & OCLA_VF_FEATURE) ? in->feature : 0;
    out->norm = (f & OCLA_VF_NORM) ? (in->norm != 0) : 0;
    for (int i = 0; i < OCLA_VARIANT_TILES && in->fam->tiles[i]; i++) out->tile[i] = in->tile[i] >= 0 ? in->tile[i] : -1;
}

static int same_variant(const ocla_variant *a, const ocla_variant *b) {
    return a->fam == b->fam && a->gate == b->gate && a->feature == b->feature && a->norm == b->norm &&
           !memcmp(a->tile, b->tile, sizeof a->tile);
}

/* The build options of a normalised variant, each after a space: " -DUSE_GK=1 -DFEATURE=1 -DCHUNK=64
 * ..." (and the context's: -DOCLA_HALF_BITS=1 on a CPU device with fp32 subnormals, OCLA_CL_OPTIONS or OCLA_NV_OPTIONS).
 * Returns 0, or -1 when they do not fit in size. */
static int ocla__variant_options(const ocla_context *ctx, const ocla_variant *v, char *buf, size_t size) {
    const unsigned f = v->fam->fields;
    size_t off = 0;
    int n;
    buf[0] = 0;
#define PUT(...)                                                                                                     \
    do {                                                                                                             \
        n = snprintf(buf + off, off < size ? size - off : 0, __VA_ARGS__);                                            \
        if (n < 0) return -1;                                                                                        \
        off += (size_t)n;                                                                                            \
    } while (0)
    if ((f & OCLA_VF_GATE) && v->gate > OCLA_GATE_NONE && v->gate <= OCLA_GATE_FIXED) PUT(" %s", k_gate_macro[v->gate]);
    if (f & OCLA_VF_FEATURE) PUT(" -DFEATURE=%d", (int)v->feature);
    if ((f & OCLA_VF_NORM) && v->norm) PUT(" -DUSE_NORM=1");
    for (int i = 0; i < OCLA_VARIANT_TILES && v->fam->tiles[i]; i++)
        if (v->tile[i] >= 0) PUT(" -D%s=%d", v->fam->tiles[i], (int)v->tile[i]);
    if (!(f & OCLA_VF_NV_EXTRA) && ctx && ctx->half_bits) PUT(" -DOCLA_HALF_BITS=1"); /* context.c */
    if ((f & OCLA_VF_NV_EXTRA) && ctx && ctx->nv_extra_options[0]) PUT(" %s", ctx->nv_extra_options);
    if (!(f & OCLA_VF_NV_EXTRA) && ctx && ctx->cl_extra_options[0]) PUT(" %s", ctx->cl_extra_options);
#undef PUT
    return off < size ? 0 : -1;
}

int ocla__variant_build_options(const ocla_variant *in, char *buf, size_t size) {
    ocla_variant v;
    normalise(in, &v);
    return ocla__variant_options(NULL, &v, buf, size);
}

ocla_status ocla__variant_entry(ocla_context *ctx, const ocla_variant *in, const char *name,
                                const ocla_kernel_entry **out) {
    ocla_variant v;
    normalise(in, &v);
    ctx->counters.kernel_lookups++;
    for (size_t i = 0; i < ctx->n_kernels; i++) {
        ocla_kernel_entry *e = &ctx->kernels[i];
        if (e->has_variant && same_variant(&e->variant, &v) && !strcmp(e->name, name)) {
            ctx->stats.memory_hits++; /* found in the context's memory cache */
            *out = e;
            return OCLA_SUCCESS;
        }
    }
    char opts[640];
    if (ocla__variant_options(ctx, &v, opts, sizeof opts) < 0)
        return ocla__fail(ctx, OCLA_ERR_INTERNAL, "build options of a %s variant exceed %zu bytes", v.fam->source,
                          sizeof opts);
    ocla_kernel_entry *e;
    ocla_status st = ocla__kernel_create(ctx, v.fam->source, opts + (opts[0] == ' '), name, &e);
    if (st != OCLA_SUCCESS) return st;
    e->variant = v;
    e->has_variant = 1;
    *out = e;
    return OCLA_SUCCESS;
}

ocla_status ocla__variant_kernel(ocla_context *ctx, const ocla_variant *v, const char *name, cl_kernel *out) {
    const ocla_kernel_entry *e;
    ocla_status st = ocla__variant_entry(ctx, v, name, &e);
    *out = st == OCLA_SUCCESS ? e->kernel : NULL;
    return st;
}
