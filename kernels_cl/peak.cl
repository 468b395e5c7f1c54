/* Device peak measurement (clpeak's method, krrishnarraj/clpeak), run by ocla_device_peak()
 * (runtime/peak.c, family ocla_fam_peak: tiles VW and PEAK_ITERS).
 *
 * peak_mad: each work-item runs PEAK_ITERS x 64 dependent mad() on two vectors of width VW
 * (type VT, derived from VW), vector-width locked so the compiler cannot re-vectorise; 2 FLOPs per
 * lane per mad, so a work-item does PEAK_ITERS * 64 * 2 * VW FLOPs. The result is stored so the
 * chain stays.   -DVW=4 -DPEAK_ITERS=32  (defaults: VW = 1, PEAK_ITERS = 32)
 * peak_copy4 / peak_copy4x16: dst[i] = src[i] over float4 elements, one or 16 per work-item; the
 * bandwidth counts read + write (2 * 16 bytes per float4). The faster of the two counts. They do
 * not depend on VW or PEAK_ITERS.
 */
#ifndef VW
#define VW 1
#endif
#ifndef PEAK_ITERS
#define PEAK_ITERS 32
#endif
#if VW == 1
#define VT float
#elif VW == 2
#define VT float2
#elif VW == 4
#define VT float4
#elif VW == 8
#define VT float8
#elif VW == 16
#define VT float16
#else
#error "peak.cl: VW must be 1, 2, 4, 8 or 16"
#endif

#define PK_MAD_4(x, y) \
    x = mad(y, x, y);  \
    y = mad(x, y, x);  \
    x = mad(y, x, y);  \
    y = mad(x, y, x);
#define PK_MAD_16(x, y) PK_MAD_4(x, y) PK_MAD_4(x, y) PK_MAD_4(x, y) PK_MAD_4(x, y)
#define PK_MAD_64(x, y) PK_MAD_16(x, y) PK_MAD_16(x, y) PK_MAD_16(x, y) PK_MAD_16(x, y)

__kernel void peak_mad(__global float *out, float a) {
    VT x = (VT)(a);
    VT y = (VT)((float)get_local_id(0));
    for (int i = 0; i < PEAK_ITERS; i++) {
        PK_MAD_64(x, y)
    }
#if VW == 1
    out[get_global_id(0)] = y;
#elif VW == 2
    out[get_global_id(0)] = y.s0 + y.s1;
#elif VW == 4
    out[get_global_id(0)] = (y.s0 + y.s1) + (y.s2 + y.s3);
#elif VW == 8
    out[get_global_id(0)] = (y.s0 + y.s1) + (y.s2 + y.s3) + (y.s4 + y.s5) + (y.s6 + y.s7);
#else /* VW == 16 */
    out[get_global_id(0)] = (y.s0 + y.s1) + (y.s2 + y.s3) + (y.s4 + y.s5) + (y.s6 + y.s7) + (y.s8 + y.s9) +
                            (y.sa + y.sb) + (y.sc + y.sd) + (y.se + y.sf);
#endif
}

/* 16 float4 per work-item, strided by the global size (clpeak's "go" pattern): fewer work-items,
 * for drivers with a high per-work-item cost (llvmpipe). Global size = n4 / 16. */
__kernel void peak_copy4x16(__global const float4 *src, __global float4 *dst) {
    size_t i = get_global_id(0), g = get_global_size(0);
    for (int j = 0; j < 16; j++) dst[i + j * g] = src[i + j * g];
}

__kernel void peak_copy4(__global const float4 *src, __global float4 *dst) {
    size_t i = get_global_id(0);
    dst[i] = src[i];
}
