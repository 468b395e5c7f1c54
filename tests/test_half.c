/* SPDX-License-Identifier: MIT */
/* Half-precision storage (issue 14): the host conversions between fp32 and bf16 / fp16, checked
 * exhaustively where the domain is 16 bits and against an fp64 rounding reference over a sweep of
 * fp32 bit patterns, and bf16 / fp16 tensors (create, upload, download, views, fill) on every device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static float flt(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* x rounded to nearest, ties to even, onto a binary format of p significand bits, smallest normal
 * exponent emin (2^emin) and largest finite value max: Inf beyond it. fp64 arithmetic, independent of
 * the library's bit manipulation (x / ulp is exact in fp64, nearbyint rounds to even). */
static double round_ref(double x, int p, int emin, double max) {
    if (x == 0.0 || isinf(x)) return x;
    int e;
    frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
    if (e - 1 < emin) e = emin + 1;
    const double ulp = ldexp(1.0, e - p), r = nearbyint(x / ulp) * ulp;
    return fabs(r) > max ? copysign(INFINITY, x) : r;
}
#define F16_MAX 65504.0
#define BF16_MAX ldexp(255.0, 120) /* (2 - 2^-7) * 2^127 */

/* Every fp16 value: its fp32 value from the definition, and back to the same bits (NaNs: a quiet NaN
 * of the same sign, the same bits for a quiet one). */
Test(half, f16_every_value_round_trips) {
    for (uint32_t h = 0; h < 65536; h++) {
        const int e = (int)(h >> 10) & 31, m = (int)(h & 1023);
        const double s = h & 0x8000 ? -1.0 : 1.0;
        const float x = ocla_f16_to_f32((uint16_t)h);
        const uint16_t back = ocla_f32_to_f16(x);
        if (e == 31 && m) {
            cr_assert(isnan(x) && (back & 0x7e00) == 0x7e00 && (back & 0x8000) == (h & 0x8000), "%04x -> %a -> %04x",
                      h, (double)x, back);
            if (m & 0x200) cr_assert_eq(back, h, "quiet NaN %04x -> %04x", h, back);
            continue;
        }
        const double want = e == 31 ? s * INFINITY : e ? s * ldexp(1024 + m, e - 25) : s * ldexp(m, -24);
        cr_assert_eq((double)x, want, "f16 %04x -> %a, want %a", h, (double)x, want);
        cr_assert_eq(back, h, "f16 %04x -> %a -> %04x", h, (double)x, back);
    }
}

Test(half, bf16_every_value_round_trips) {
    for (uint32_t h = 0; h < 65536; h++) {
        const float x = ocla_bf16_to_f32((uint16_t)h);
        cr_assert_eq(bits(x), h << 16, "bf16 %04x -> %08x", h, bits(x));
        const uint16_t back = ocla_f32_to_bf16(x);
        if (isnan(x)) {
            cr_assert((back & 0x7fc0) == 0x7fc0 && (back & 0x8000) == (h & 0x8000), "NaN %04x -> %04x", h, back);
            if (h & 0x40) cr_assert_eq(back, h, "quiet NaN %04x -> %04x", h, back);
        } else {
            cr_assert_eq(back, h, "bf16 %04x -> %a -> %04x", h, (double)x, back);
        }
    }
}

/* Ties go to even, and a hair off a tie goes to the nearer value: for every pair of adjacent finite
 * fp16 values (subnormals included) the midpoint (exact in fp32: 12 significand bits) and its two
 * fp32 neighbours. */
Test(half, f16_rounds_ties_to_even) {
    int ties = 0;
    for (uint32_t h = 0; h < 0x7bff; h++)
        for (int neg = 0; neg < 2; neg++) {
            const uint16_t lo = (uint16_t)(h | (neg ? 0x8000u : 0)), hi = (uint16_t)(lo + 1);
            const float a = ocla_f16_to_f32(lo), b = ocla_f16_to_f32(hi), mid = (float)(((double)a + b) / 2);
            cr_assert_eq((double)mid, ((double)a + b) / 2, "midpoint of %04x %04x not exact", lo, hi);
            const uint16_t even = (lo & 1) ? hi : lo;
            cr_assert_eq(ocla_f32_to_f16(mid), even, "tie %a between %04x and %04x", (double)mid, lo, hi);
            const float toward_a = nextafterf(mid, a), toward_b = nextafterf(mid, b);
            cr_assert_eq(ocla_f32_to_f16(toward_a), lo, "%a -> %04x, want %04x", (double)toward_a,
                         ocla_f32_to_f16(toward_a), lo);
            cr_assert_eq(ocla_f32_to_f16(toward_b), hi, "%a -> %04x, want %04x", (double)toward_b,
                         ocla_f32_to_f16(toward_b), hi);
            ties++;
        }
    cr_assert_eq(ties, 2 * 0x7bff);
}

/* The edges named in the header: 65504 is the largest finite, 65520 (its tie with 65536) is Inf,
 * 2^-24 the smallest subnormal, 2^-25 (its tie with 0) is 0, the largest subnormal's carry is the
 * smallest normal; bf16 keeps a signalling NaN a NaN (truncation would make 0x7f800001 Inf). */
Test(half, edges) {
    cr_assert_eq(ocla_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(ocla_f32_to_f16(nextafterf(65520.0f, 0.0f)), 0x7bff);
    cr_assert_eq(ocla_f32_to_f16(65520.0f), 0x7c00);
    cr_assert_eq(ocla_f32_to_f16(-1e10f), 0xfc00);
    cr_assert_eq(ocla_f32_to_f16(INFINITY), 0x7c00);
    cr_assert_eq(ocla_f32_to_f16(0x1p-24f), 0x0001);
    cr_assert_eq(ocla_f32_to_f16(0x1p-25f), 0x0000);
    cr_assert_eq(ocla_f32_to_f16(nextafterf(0x1p-25f, 1.0f)), 0x0001);
    cr_assert_eq(ocla_f32_to_f16(-0x1.8p-24f), 0x8002); /* 1.5 ulp: the tie goes to 2 */
    cr_assert_eq(ocla_f32_to_f16(0x1.ffcp-15f), 0x0400); /* 1023.5 ulp: the tie carries into the exponent */
    cr_assert_eq(ocla_f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(ocla_f32_to_f16(flt(0x7f800001u)) & 0x7e00, 0x7e00);
    cr_assert_eq(ocla_f32_to_bf16(flt(0x7f800001u)), 0x7fc0);
    cr_assert_eq(ocla_f32_to_bf16(flt(0xff800001u)), 0xffc0);
    cr_assert_eq(ocla_f32_to_bf16(flt(0x3f808000u)), 0x3f80); /* tie, even below */
    cr_assert_eq(ocla_f32_to_bf16(flt(0x3f818000u)), 0x3f82); /* tie, even above */
    cr_assert_eq(ocla_f32_to_bf16(flt(0x7f7fffffu)), 0x7f80); /* FLT_MAX rounds past bf16's largest: Inf */
    cr_assert_eq(ocla_f32_to_bf16(flt(0x00008000u)), 0x0000); /* the smallest bf16 subnormal's tie with 0 */
}

/* fp32 bit patterns in a sweep of 2^22 (stride 1021, odd: every mantissa bit pattern and exponent is
 * reached), both conversions against the fp64 reference rounding. */
Test(half, sweep_matches_fp64_rounding) {
    unsigned long n = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 1021, n++) {
        const float x = flt((uint32_t)u);
        if (isnan(x)) {
            cr_assert(isnan(ocla_f16_to_f32(ocla_f32_to_f16(x))) && isnan(ocla_bf16_to_f32(ocla_f32_to_bf16(x))),
                      "NaN %08x lost", (uint32_t)u);
            continue;
        }
        const double f16 = round_ref(x, 11, -14, F16_MAX), bf16 = round_ref(x, 8, -126, BF16_MAX);
        const double got16 = ocla_f16_to_f32(ocla_f32_to_f16(x)), gotb = ocla_bf16_to_f32(ocla_f32_to_bf16(x));
        cr_assert(got16 == f16 && !signbit(got16) == !signbit(x), "f16(%a) = %a, want %a", (double)x, got16, f16);
        cr_assert(gotb == bf16 && !signbit(gotb) == !signbit(x), "bf16(%a) = %a, want %a", (double)x, gotb, bf16);
    }
    cr_assert_gt(n, 4000000ul);
}

Test(half, array_conversions_and_names) {
    const float x[5] = {1.0f, -2.5f, 65504.0f, 1e-8f, 3.14159f};
    uint16_t h[5];
    float y[5];
    for (int d = OCLA_BF16; d <= OCLA_F16; d++) {
        cr_assert_eq(ocla_convert_from_f32((ocla_dtype)d, x, h, 5), OCLA_SUCCESS);
        cr_assert_eq(ocla_convert_to_f32((ocla_dtype)d, h, y, 5), OCLA_SUCCESS);
        for (int i = 0; i < 5; i++) {
            const float one = d == OCLA_BF16 ? ocla_bf16_to_f32(ocla_f32_to_bf16(x[i]))
                                             : ocla_f16_to_f32(ocla_f32_to_f16(x[i]));
            cr_assert_eq(bits(y[i]), bits(one), "%s %d", ocla_dtype_name((ocla_dtype)d), i);
        }
        cr_assert_eq(ocla_dtype_size((ocla_dtype)d), 2);
    }
    cr_assert_eq(ocla_convert_from_f32((ocla_dtype)3, x, h, 5), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_convert_to_f32(OCLA_F16, NULL, y, 5), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_dtype_size(OCLA_F32), 4);
    cr_assert_eq(ocla_dtype_size((ocla_dtype)7), 0);
    cr_assert_str_eq(ocla_dtype_name(OCLA_BF16), "bf16");
    cr_assert_str_eq(ocla_dtype_name(OCLA_F16), "f16");
    cr_assert_str_eq(ocla_dtype_name((ocla_dtype)-1), "unknown");
}

/* bf16 and fp16 tensors on every device: the byte counts are 2 per element, contiguous and strided
 * transfers move the bits unchanged, a wrapped buffer must hold offset + extent 2-byte elements, fill
 * rounds its value. */
Test(half, tensors_on_every_device) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            const ocla_dtype dtype = (ocla_dtype)dt;
            const int64_t dims[3] = {3, 5, 7};
            const size_t n = 105;
            uint16_t host[105], back[105];
            for (size_t i = 0; i < n; i++) host[i] = (uint16_t)(0x3c00u + 37u * i); /* finite in both */
            ocla_tensor *t = NULL;
            tc_ok(ctx, ocla_tensor_create(ctx, dtype, 3, dims, &t));
            cr_assert_eq(ocla_tensor_dtype(t), dtype);
            tc_ok(ctx, ocla_tensor_download(ctx, t, back, sizeof back));
            for (size_t i = 0; i < n; i++) cr_assert_eq(back[i], 0, "not zero-initialised at %zu", i);
            cr_assert_eq(ocla_tensor_upload(ctx, t, host, n * 4), OCLA_ERR_SHAPE, "fp32 byte count accepted");
            tc_ok(ctx, ocla_tensor_upload(ctx, t, host, sizeof host));
            tc_ok(ctx, ocla_tensor_download(ctx, t, back, sizeof back));
            cr_assert_eq(memcmp(host, back, sizeof host), 0, "%s round trip", ocla_dtype_name(dtype));
            /* a strided view: every other column of the middle rows (offset 7, dims 3x2x3, strides 35,7,2) */
            ocla_tensor *v = NULL;
            const int64_t vd[3] = {3, 2, 3}, vs[3] = {35, 7, 2};
            tc_ok(ctx, ocla_tensor_view(ctx, t, 7, 3, vd, vs, &v));
            cr_assert_eq(ocla_tensor_dtype(v), dtype);
            uint16_t sub[18], put[18];
            tc_ok(ctx, ocla_tensor_download(ctx, v, sub, sizeof sub));
            for (int a = 0, j = 0; a < 3; a++)
                for (int b = 0; b < 2; b++)
                    for (int c = 0; c < 3; c++, j++) {
                        cr_assert_eq(sub[j], host[7 + 35 * a + 7 * b + 2 * c], "view element %d", j);
                        put[j] = (uint16_t)(0x4000u + (unsigned)j);
                    }
            tc_ok(ctx, ocla_tensor_upload(ctx, v, put, sizeof put));
            tc_ok(ctx, ocla_tensor_download(ctx, t, back, sizeof back));
            for (size_t i = 0, j = 0; i < n; i++) { /* the view's elements changed, the others intact */
                const size_t r = i < 7 ? 99 : i - 7, a = r / 35, b = (r % 35) / 7, c = r % 7;
                const int in_view = i >= 7 && a < 3 && b < 2 && c % 2 == 0 && c / 2 < 3;
                cr_assert_eq(back[i], in_view ? put[j] : host[i], "element %zu after the strided upload", i);
                j += (size_t)in_view;
            }
            ocla_tensor_destroy(v);
            /* wrap: 105 elements fit the buffer of 210 bytes, offset 1 does not */
            ocla_tensor *w = NULL;
            tc_ok(ctx, ocla_tensor_wrap(ctx, ocla_tensor_buffer(t), 0, dtype, 3, dims, NULL, &w));
            ocla_tensor_destroy(w);
            cr_assert_eq(ocla_tensor_wrap(ctx, ocla_tensor_buffer(t), 1, dtype, 3, dims, NULL, &w), OCLA_ERR_SHAPE);
            cr_assert_null(w);
            /* fill rounds: 1/3 to the nearest half value */
            tc_ok(ctx, ocla_tensor_fill(ctx, t, 1.0f / 3.0f));
            tc_ok(ctx, ocla_tensor_download(ctx, t, back, sizeof back));
            const uint16_t third = dtype == OCLA_BF16 ? ocla_f32_to_bf16(1.0f / 3.0f) : ocla_f32_to_f16(1.0f / 3.0f);
            for (size_t i = 0; i < n; i++) cr_assert_eq(back[i], third, "fill at %zu", i);
            ocla_tensor_destroy(t);
        }
        ocla_context_destroy(ctx);
    }
}
