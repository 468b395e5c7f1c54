/* SPDX-License-Identifier: MIT */
/* gau_bwd.cl: elementwise steps of the GAU / FLASH layer's backward (runtime/layer_gau_bwd.c; the
 * forward: gau.cl, whose gau_norm_bwd is the norm's backward). fp32, OpenCL C 1.2. Every buffer comes
 * with an element offset (the temporaries share one scratch buffer). No variant macros. Rows are
 * tokens (rows = B*T), matrices dense row-major; W = 2E + S columns of [U | V | Z].
 *
 * silu'(a) = s (1 + a (1 - s)), s = sigmoid(a) = 1 / (1 + exp(-a)).
 *
 * gau_bwd_gate: the gate G = U * AV. On entry da[r, c] (c < 2E) holds the U and V pre-activations
 *               xn W_uvz (without the bias), h[r, c] = silu(U) (gau_split's output), o = AV, dg = dL/dG.
 *               With a = da[r, c] + b[c], u = h[r, c], per (c < E, r):
 *                 dg[r, c] := dg u              dL/dAV, in place
 *                 o[r, c]  := u o               G, in place (the output projection's input)
 *                 da[r, c] := dg o silu'(a)     dL/da for U
 *               Each item reads its elements before it writes them. global (E, rows).
 * gau_bwd_vz:   V and Z. c < E (V): da[r, E + c] := dv[r, c] silu'(da[r, E + c] + b[E + c]).
 *               c = E + j (Z, j < S): dq holds the four gradients of the rotated Q_quad, K_quad,
 *               Q_lin, K_lin (planes of rows * S, as the FLASH backward wrote them); back through RoPE
 *               (its transpose is the rotation by the opposite angle: ocla_rope at position -pos),
 *                 dp_k = rope^T(dq_k)[r, j]   at pos = pos0 + r mod T on the first rd dims (packed: r's
 *                 index within its sequence, OCLA_SEQ as gau.cl)
 *               then with z_a = h[r, 2E + j] + b[2E + j] (gau_split keeps Z's pre-activation), z = silu(z_a):
 *                 da[r, 2E + j] = silu'(z_a) sum_k dp_k gamma[k, j]
 *                 p[r, k S + j] = dp_k z,  p[rows 4S + r 4S + k S + j] = dp_k   (has_p: the terms of
 *                                                                              dgamma and dbeta)
 *               global (E + S, rows).
 */

OCLA_INLINE float dsilu(float a) {
    const float s = 1.0f / (1.0f + exp(-a));
    return s * mad(a, 1.0f - s, 1.0f);
}

OCLA_KERNEL void gau_bwd_gate(const int rows, const int E, const int S, OCLA_BUF(h), OCLA_BUF(b), const int has_b,
                              OCLA_BUF_OUT(o), OCLA_BUF_OUT(dg), OCLA_BUF_OUT(da)) {
    const int c = (int)get_global_id(0), r = (int)get_global_id(1);
    if (c >= E || r >= rows) return;
    const ocla_idx ie = (ocla_idx)r * E + c, iw = (ocla_idx)r * (2 * E + S) + c;
    const float u = h[h_o + iw], av = o[o_o + ie], g = dg[dg_o + ie];
    const float a = da[da_o + iw] + (has_b ? b[b_o + c] : 0.0f);
    dg[dg_o + ie] = g * u;
    o[o_o + ie] = u * av;
    da[da_o + iw] = g * av * dsilu(a);
}

OCLA_KERNEL void gau_bwd_vz(const int rows, const int T, const int E, const int S, OCLA_BUF(h), OCLA_BUF(b),
                            const int has_b, OCLA_BUF(dv), OCLA_BUF(dq), OCLA_BUF(gamma), const int rd, const long pos0,
                            OCLA_BUF(invf_buf), OCLA_BUF_OUT(da), OCLA_BUF_OUT(p), const int has_p, OCLA_SEQ) {
    const int c = (int)get_global_id(0), r = (int)get_global_id(1);
    if (c >= E + S || r >= rows) return;
    const int W = 2 * E + S;
    const ocla_idx row = (ocla_idx)r * W;
    if (c < E) {
        const ocla_idx i = row + E + c;
        da[da_o + i] = dv[dv_o + (ocla_idx)r * E + c] * dsilu(da[da_o + i] + (has_b ? b[b_o + E + c] : 0.0f));
        return;
    }
    const int j = c - E;
    __global const float *invf = invf_buf + invf_buf_o;
    const ocla_idx plane = (ocla_idx)rows * S, at = (ocla_idx)r * S + j;
    const int jp = j < rd ? ocla_rope_partner(j, rd) : j;
    const float pos = -(float)(pos0 + (nseq > 0 ? ocla_seq_pos(r, seq_buf + seq_o, nseq) : r % T));
    const float za = h[h_o + row + 2 * E + j] + (has_b ? b[b_o + 2 * E + j] : 0.0f), z = ocla_silu(za);
    float dz = 0.0f;
    for (int k = 0; k < 4; k++) {
        __global const float *dqk = dq + dq_o + k * plane;
        const float d = ocla_rope(dqk[at], dqk[(ocla_idx)r * S + jp], j, rd, pos, invf);
        dz = mad(d, gamma[gamma_o + k * S + j], dz);
        if (has_p) {
            p[p_o + (ocla_idx)r * 4 * S + k * S + j] = d * z;
            p[p_o + 4 * plane + (ocla_idx)r * 4 * S + k * S + j] = d;
        }
    }
    da[da_o + row + 2 * E + j] = dz * dsilu(za);
}
