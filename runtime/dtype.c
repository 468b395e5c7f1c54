/* SPDX-License-Identifier: MIT */
/* Element types: sizes, names and the host conversions between fp32 and the half types (bf16, fp16),
 * round to nearest, ties to even, on the bit patterns (no dependence on the host's rounding mode or
 * on a compiler's _Float16). */
#include <string.h>

#include "ocla/ocla.h"

size_t ocla_dtype_size(ocla_dtype t) {
    switch (t) {
    case OCLA_F32: return 4;
    case OCLA_BF16:
    case OCLA_F16: return 2;
    }
    return 0;
}

const char *ocla_dtype_name(ocla_dtype t) {
    switch (t) {
    case OCLA_F32: return "f32";
    case OCLA_BF16: return "bf16";
    case OCLA_F16: return "f16";
    }
    return "unknown";
}

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* v >> s rounded to nearest, ties to even (1 <= s <= 31). */
static uint32_t shift_rne(uint32_t v, unsigned s) {
    const uint32_t r = v >> s, rem = v & ((1u << s) - 1u), half = 1u << (s - 1u);
    return r + (rem > half || (rem == half && (r & 1u)));
}

uint16_t ocla_f32_to_bf16(float x) {
    const uint32_t u = bits_of(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: quiet, sign kept */
    return (uint16_t)shift_rne(u, 16); /* a carry out of the mantissa steps the exponent: up to Inf */
}

float ocla_bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t ocla_f32_to_f16(float x) {
    const uint32_t u = bits_of(x), a = u & 0x7fffffffu;
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN: quiet, payload's top */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (65504 + half an ulp, a tie to even): Inf */
    if (a >= 0x38800000u) return (uint16_t)(sign | shift_rne(a - 0x38000000u, 13)); /* normal: exponent rebiased */
    if (a <= 0x33000000u) return sign; /* <= 2^-25, half the smallest subnormal (the tie goes to 0) */
    /* subnormal: round(|x| * 2^24) = the 24-bit significand shifted right by 126 - exponent (14 .. 24) */
    const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    return (uint16_t)(sign | shift_rne(m, 126u - e)); /* 0x400 (a carry) is the smallest normal */
}

float ocla_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 31) return float_of(sign | 0x7f800000u | (m << 13)); /* Inf, NaN (payload kept) */
    if (e) return float_of(sign | ((e + 112u) << 23) | (m << 13));
    return float_of(sign | bits_of((float)m * 0x1p-24f)); /* subnormal: m * 2^-24 is exact in fp32 */
}

/* n values from fp32 to dtype's storage (widen = 0) or back (widen = 1). */
static ocla_status convert(ocla_dtype dtype, const void *src, void *dst, size_t n, int widen) {
    if (!ocla_dtype_size(dtype) || (n && (!src || !dst))) return OCLA_ERR_INVALID_ARGUMENT;
    if (dtype == OCLA_F32) {
        if (n) memmove(dst, src, n * sizeof(float));
        return OCLA_SUCCESS;
    }
    const int bf = dtype == OCLA_BF16;
    const float *f = src;
    const uint16_t *h = src;
    float *fo = dst;
    uint16_t *ho = dst;
    for (size_t i = 0; i < n; i++)
        if (widen) fo[i] = bf ? ocla_bf16_to_f32(h[i]) : ocla_f16_to_f32(h[i]);
        else ho[i] = bf ? ocla_f32_to_bf16(f[i]) : ocla_f32_to_f16(f[i]);
    return OCLA_SUCCESS;
}

ocla_status ocla_convert_from_f32(ocla_dtype dtype, const float *src, void *dst, size_t n) {
    return convert(dtype, src, dst, n, 0);
}

ocla_status ocla_convert_to_f32(ocla_dtype dtype, const void *src, float *dst, size_t n) {
    return convert(dtype, src, dst, n, 1);
}
