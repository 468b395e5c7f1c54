/* SPDX-License-Identifier: MIT */
/* The only file that calls CLBlast: (strided-batched) row-major SGEMM.
 *
 * CLBlast 1.5.3 facts this file works around (../shared/reference/opencl-notes.md §A):
 *  - two threads making the first call of a routine at once can fail with "Cache::Store: object
 *    already in cache" (fixed in 1.6.1): every CLBlast call here runs under one process-wide lock
 *    (calls only enqueue, so the lock is held briefly once a routine is built);
 *  - the indirect GEMM path allocates a temporary buffer per call unless given one: single GEMMs
 *    use CLBlastSgemmWithTempBuffer with a buffer the context keeps and grows;
 *  - returned events are released (or handed to the profiler, which releases them);
 *  - the event a routine hands back is its last kernel's only: the indirect GEMM (a non-zero temporary
 *    buffer size) runs pad/transpose kernels, the main kernel and C's copy back, and its event is the
 *    copy's (a few microseconds of a call of milliseconds). While profiling, such a call is timed from a
 *    gated marker before it to that event's end (ocla__profile_span_begin, launch.c);
 *  - CLBlast prints some errors to stderr itself; there is no way to silence that.
 */
#include <clblast_c.h>
#include <stdio.h>

#include "internal.h"

void ocla_gemm_desc_defaults(ocla_gemm_desc *d) {
    if (d) *d = (ocla_gemm_desc){.size = sizeof *d, .alpha = 1.0f, .beta = 0.0f, .batch = 1};
}

static ocla_status blas_fail(ocla_context *ctx, CLBlastStatusCode code, const char *what) {
    if (code == CLBlastInsufficientMemoryTemp || code == CLBlastOpenCLOutOfResources ||
        code == CLBlastOpenCLOutOfHostMemory || code == -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */)
        return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "CLBlast %s failed: status %d (out of memory)", what, (int)code);
    return ocla__fail(ctx, OCLA_ERR_BLAS, "CLBlast %s failed: status %d", what, (int)code);
}

/* Check that every element a GEMM touches lies inside the buffer. */
static ocla_status check_extent(ocla_context *ctx, cl_mem m, size_t off, size_t rows, size_t cols, size_t ld,
                                size_t stride, size_t batch, const char *name) {
    size_t size = 0, last, t;
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clGetMemObjectInfo", name);
    if (ld < cols) return ocla__fail(ctx, OCLA_ERR_SHAPE, "gemm: ld of %s (%zu) is below its row length %zu", name, ld, cols);
    if (!ocla__mul_ok(rows - 1, ld, &last) || !ocla__add_ok(last, cols, &last) ||
        !ocla__mul_ok(batch - 1, stride, &t) || !ocla__add_ok(last, t, &last) || !ocla__add_ok(last, off, &last) ||
        !ocla__mul_ok(last, sizeof(float), &last))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "gemm: the extent of %s overflows", name);
    if (last > size)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "gemm: %s needs %zu bytes, its buffer has %zu", name, last, size);
    return OCLA_SUCCESS;
}

ocla_status ocla__gemm(ocla_context *ctx, const ocla_gemm_desc *d, cl_mem a, size_t a_off, cl_mem b, size_t b_off,
                       cl_mem c, size_t c_off) {
    if (d->m == 0 || d->n == 0 || d->k == 0 || d->batch == 0)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "gemm: m, n, k and batch must be positive (%zu, %zu, %zu, %zu)", d->m,
                          d->n, d->k, d->batch);
    size_t ar = d->trans_a ? d->k : d->m, ac = d->trans_a ? d->m : d->k;
    size_t br = d->trans_b ? d->n : d->k, bc = d->trans_b ? d->k : d->n;
    size_t lda = d->lda ? d->lda : ac, ldb = d->ldb ? d->ldb : bc, ldc = d->ldc ? d->ldc : d->n;
    size_t sa = d->stride_a ? d->stride_a : ar * lda, sb = d->stride_b ? d->stride_b : br * ldb,
           sc = d->stride_c ? d->stride_c : d->m * ldc;
    a_off += d->a_offset, b_off += d->b_offset, c_off += d->c_offset;
    ocla_status st = check_extent(ctx, a, a_off, ar, ac, lda, sa, d->batch, "A");
    if (st == OCLA_SUCCESS) st = check_extent(ctx, b, b_off, br, bc, ldb, sb, d->batch, "B");
    if (st == OCLA_SUCCESS) st = check_extent(ctx, c, c_off, d->m, d->n, ldc, sc, d->batch, "C");
    if (st != OCLA_SUCCESS) return st;
    if (ctx->simulate_device_lost)
        return ocla__fail(ctx, OCLA_ERR_DEVICE_LOST, "the device is no longer available (simulated) in gemm");
    if (ctx->inject_enqueue_failure > 0 && --ctx->inject_enqueue_failure == 0)
        return ocla__cl_fail(ctx, CL_OUT_OF_RESOURCES, "CLBlastSgemm (injected)", "running a GEMM");

    CLBlastTranspose ta = d->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = d->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_event ev = NULL;
    CLBlastStatusCode code;
    ocla__span span = {NULL, NULL};
    ocla_global_lock();
    /* a non-zero size: the indirect path, several kernels (the strided-batched routine allocates its own
     * temporaries, by the same rule up to the offsets) */
    size_t temp = 0;
    const CLBlastStatusCode size_code = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, ta, tb, d->m, d->n, d->k, a_off, lda, b_off, ldb, c_off, ldc, &ctx->queue, &temp);
    if (size_code == CLBlastSuccess && temp > 0) ocla__profile_span_begin(ctx, &span);
    code = d->batch == 1 ? size_code : CLBlastSuccess; /* the batched routine does not need the size */
    if (d->batch == 1) {
        cl_mem m = NULL; /* a larger temporary buffer replaces the context's */
        if (code == CLBlastSuccess && temp > ctx->blas_temp_size &&
            (st = ocla__alloc(ctx, temp, &m, "allocating the GEMM temporary buffer")) == OCLA_SUCCESS) {
            if (ctx->blas_temp) clReleaseMemObject(ctx->blas_temp);
            ctx->blas_temp = m;
            ctx->blas_temp_size = temp;
        }
        if (code == CLBlastSuccess && st == OCLA_SUCCESS)
            code = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, d->m, d->n, d->k, d->alpha, a, a_off, lda, b,
                                              b_off, ldb, d->beta, c, c_off, ldc, &ctx->queue, &ev, ctx->blas_temp);
    } else {
        code = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, d->m, d->n, d->k, d->alpha, a, a_off, lda, sa, b,
                                          b_off, ldb, sb, d->beta, c, c_off, ldc, sc, d->batch, &ctx->queue, &ev);
    }
    ctx->blas_used = 1;
    ocla_global_unlock();
    const int ok = st == OCLA_SUCCESS && code == CLBlastSuccess;
    ocla__profile_span_end(ctx, &span, ok ? ev : NULL, d->batch == 1 ? "gemm" : "gemm strided-batched");
    if (!ok && ev) clReleaseEvent(ev);
    if (st != OCLA_SUCCESS) return st;
    if (code != CLBlastSuccess) return blas_fail(ctx, code, d->batch == 1 ? "SgemmWithTempBuffer" : "SgemmStridedBatched");
    return OCLA_SUCCESS;
}

ocla_status ocla_gemm(ocla_context *ctx, const ocla_gemm_desc *d, const ocla_tensor *a, const ocla_tensor *b,
                      ocla_tensor *c) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_gemm: ctx is NULL");
    if (!d) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_gemm: desc is NULL");
    ocla_gemm_desc given;
    OCLA__ABI_IN(ctx, "ocla_gemm", "desc", OCLA__ABI_GEMM_DESC, d, given);
    OCLA_LOCK(ctx);
    ocla_status st = ocla__check_tensor(ctx, a, "A", -1, NULL);
    if (st == OCLA_SUCCESS) st = ocla__check_tensor(ctx, b, "B", -1, NULL);
    if (st == OCLA_SUCCESS) st = ocla__check_tensor(ctx, c, "C", -1, NULL);
    ocla_io_set io = {.in = {a, b}, .out = {c}, .in_name = {"A", "B"}, .out_name = {"C"}, .n_in = 2, .n_out = 1};
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, "ocla_gemm", &io);
    if (st == OCLA_SUCCESS) st = ocla__gemm(ctx, d, a->mem, a->offset, b->mem, b->offset, c->mem, c->offset);
    OCLA_UNLOCK(ctx);
    return st;
}

void ocla__blas_release(ocla_context *ctx) {
    if (ctx->blas_used) {
        /* CLBlast's program cache holds programs (and so our cl_context) forever; drop them. Other
         * live contexts rebuild theirs on next use (from the driver's cache). */
        ocla_global_lock();
        CLBlastClearCache();
        ocla_global_unlock();
        ctx->blas_used = 0;
    }
    if (ctx->blas_temp) clReleaseMemObject(ctx->blas_temp);
    ctx->blas_temp = NULL;
    ctx->blas_temp_size = 0;
}
