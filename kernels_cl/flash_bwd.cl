/* SPDX-License-Identifier: MIT */
/* flash_bwd.cl: backward of FLASH mixed chunk attention (flash.cl's forward), OpenCL C 1.2. One
 * variant macro, OCLA_DTYPE (common.cl), as flash.cl: the element type of the inputs (qq, kq, ql, kl,
 * v, do, the bias) and of the gradients, each rounded once; A, dX, the states and every sum are fp32.
 * One program per dtype serves every chunk size and shape (C, sizes, strides are arguments).
 *
 * Forward (per batch b and head h; rq, rk, rql, rkl = rope(qq), rope(kq), rope(ql), rope(kl) at the
 * token's global position pos0 + t; g = t / C):
 *   x_ts = qs * rq_t.rk_s + bs * bias[h, t-s+C-1],  A_ts = post * relu(x_ts)^2   (s in chunk g; causal s <= t)
 *   o_t  = sum_s A_ts v_s + rql_t^T M_g,   M_g = f(g) sum_{s < gC} rkl_s v_s^T (causal; f = lin or lin/g)
 *                                          M   = lin sum_s rkl_s v_s^T         (non-causal, every g)
 * Backward, given do = dL/do (docs/TRAINING.md, "FLASH backward"):
 *   dX_ts  = 2 post relu(x_ts) (do_t . v_s)                  d bias[h, t-s+C-1] = bs sum dX_ts
 *   drq_t  = qs sum_s dX_ts rk_s      drk_s = qs sum_t dX_ts rq_t
 *   drql_t = M_g do_t                 drkl_s = dS_g v_s      dv_s = sum_t A_ts do_t + dS_g^T rkl_s
 *   dS_g   = sum_{g' > g} f(g') W_g'  (causal: the reverse exclusive suffix; non-causal: lin sum W_g')
 *   W_g    = sum_{t in chunk g} rql_t do_t^T   (flash.cl's flash_states on (ql, do))
 *   dqq = rope^T(drq) = rope(drq, -pos), and so on: RoPE is a rotation, its transpose the rotation back.
 * Passes (runtime/op_flash_bwd.c launches them in the order the plan, runtime/plan_flash.c, names):
 *   flashb_scores   A and dX [bh, t, c] (0 where s = gC + c is past T or, causal, past t)   (C, T, B*H)
 *   flash_states, flash_prefix (flash.cl) on (kl, v): M;  flash_states on (ql, do): W
 *   flashb_suffix   W -> dS in place                                                      (E, S, B*H)
 *   flashb_dqk      side 0: dqq, dql; side 1: dkq, dkl (launched twice)                   (S, T, B*H)
 *   flashb_dv       dv                                                                    (E, T, B*H)
 *   flashb_dbias    per chunk partial sums of dX by diagonal, [bh, g, 2C-1]               (2C-1, G, B*H)
 *   flashb_dbias_sum  d bias[h, k] = bs sum over b and g                                  (2C-1, H)
 * One work-item per output element, no local memory and no barrier: any work-group shape runs (the
 * plan's), and items past the end of a dimension return at once. Temporaries are (buffer, offset)
 * pairs (OCLA_BUF); M and dS are [bh, G, S, E] as flash.cl lays them out.
 * Packed sequences: as flash.cl (the last arguments, OCLA_SEQ; chunks, positions and the suffix per
 * sequence, common.cl's ocla_fchunk; flashb_suffix global (E, S, B*H*N)).
 */

/* rope(x)_i of the row at x[base] (stride sd between dims) at position pos. */
OCLA_INLINE float fb_rot(__global const ocla_data *x, ocla_idx base, ocla_idx sd, int i, int rd, float pos,
                         __global const float *invf) {
    return ocla_rope(OCLA_LD(x, base + i * sd), OCLA_LD(x, base + ocla_rope_partner(i, rd) * sd), i, rd, pos, invf);
}

OCLA_KERNEL void flashb_scores(OCLA_DTENSOR(qq), OCLA_DTENSOR(kq), __global const ocla_data *bias, ocla_idx bias_o,
                               ocla_idx bias_h, OCLA_DTENSOR(v), OCLA_DTENSOR(dout), __global const float *invf,
                               OCLA_BUF_OUT(A), OCLA_BUF_OUT(dX), int T, int H, int S, int E, int C, int causal,
                               int has_bias, int rd, long pos0, float qs, float bs, float post, OCLA_SEQ) {
    const int c = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (c >= C || t >= T) return;
    const int b = bh / H, h = bh % H;
    const ocla_fchunk ch = ocla_fchunk_of(t, T, C, seq_buf + seq_o, nseq);
    const int s = ch.s0 + c;
    float a = 0.0f, dx = 0.0f;
    if (s < ch.s1 && (!causal || s <= t)) {
        const ocla_idx qb = OCLA_OFF(qq, b, t, h, 0), kb = OCLA_OFF(kq, b, s, h, 0);
        const float pt = (float)(pos0 + t - ch.q0), ps = (float)(pos0 + s - ch.q0);
        float x = 0.0f, da = 0.0f;
        for (int i = 0; i < S; i++)
            x = mad(fb_rot(qq, qb, qq_s3, i, rd, pt, invf), fb_rot(kq, kb, kq_s3, i, rd, ps, invf), x);
        x *= qs;
        if (has_bias) x += bs * OCLA_LD(bias, bias_o + (ocla_idx)h * bias_h + (t - s + C - 1));
        for (int j = 0; j < E; j++) da = mad(OCLA_LD(dout, OCLA_OFF(dout, b, t, h, j)), OCLA_LD(v, OCLA_OFF(v, b, s, h, j)), da);
        const float r = fmax(x, 0.0f);
        a = post * r * r;
        dx = 2.0f * post * r * da;
    }
    const ocla_idx at = ((ocla_idx)bh * T + t) * C + c;
    A[A_o + at] = a;
    dX[dX_o + at] = dx;
}

/* causal: W[g] <- sum_{g' > g} f(g') W[g'] (in place, from the last chunk back), f(g') = lin, or lin / g'
 * with lin_norm 1 (0 for g' = 0); non-causal: W[0] <- lin * sum_g W[g]. */
OCLA_KERNEL void flashb_suffix(__global float *W, int S, int E, int G, int causal, int lin_norm, float lin,
                                OCLA_SEQ) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1), r = (int)get_global_id(2);
    if (j >= E || i >= S) return;
    __global const int *seq = seq_buf + seq_o;
    const int ns = max(nseq, 1), bh = r / ns, n = r % ns;
    const int g0 = nseq > 0 ? seq[nseq + 1 + n] : 0, g1 = nseq > 0 ? seq[nseq + 2 + n] : G;
    const ocla_idx base = ((ocla_idx)bh * G + g0) * S * E + (ocla_idx)i * E + j, gs = (ocla_idx)S * E;
    float run = 0.0f;
    for (int g = g1 - g0 - 1; g >= 0; g--) {
        const float w = W[base + g * gs];
        if (causal) {
            W[base + g * gs] = run;
            run = mad(lin_norm == 1 ? (g > 0 ? lin / (float)g : 0.0f) : lin, w, run);
        } else {
            run += w;
        }
    }
    if (!causal) W[base] = run * lin;
}

/* side 0: dqq, dql of token row = t (partners s in t's chunk, s <= t when causal; y = kq, u = d_o,
 * st = M); side 1: dkq, dkl of token row = s (partners t in s's chunk, t >= s when causal; y = qq,
 * u = v, st = dS). Sums the gradient of the rotated row at dim i and, for a rotated dim, at its
 * partner p, then rotates back (element i of ocla_rope(., -pos)):
 *   quadratic: qs sum_j dX[row, j or j, row] rope(y_j)     linear: st[g or 0] u_row */
OCLA_KERNEL void flashb_dqk(OCLA_DTENSOR(y), OCLA_DTENSOR(u), __global const float *invf, OCLA_BUF(dX),
                            __global const float *st, OCLA_DTENSOR_OUT(dquad), OCLA_DTENSOR_OUT(dlin), int T, int H,
                            int S, int E, int C, int G, int causal, int rd, long pos0, float qs, int side, OCLA_SEQ) {
    const int i = (int)get_global_id(0), row = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (i >= S || row >= T) return;
    const int b = bh / H, h = bh % H, p = ocla_rope_partner(i, rd), rot = i < rd;
    const ocla_fchunk ch = ocla_fchunk_of(row, T, C, seq_buf + seq_o, nseq);
    const int g = ch.g, s0 = ch.s0;
    const int lo = side && causal ? row : s0, hi = !side && causal ? row + 1 : ch.s1;
    /* dX[bh, t, s - s0] at xb + j * xs for partner j */
    const ocla_idx xb = dX_o + (side ? (ocla_idx)bh * T * C + (row - s0) : ((ocla_idx)bh * T + row) * C - s0);
    const ocla_idx xs = side ? C : 1;
    float qi = 0.0f, qp = 0.0f;
    for (int j = lo; j < hi; j++) {
        const ocla_idx yb = OCLA_OFF(y, b, j, h, 0);
        const float pj = (float)(pos0 + j - ch.q0), d = dX[xb + j * xs];
        qi = mad(d, fb_rot(y, yb, y_s3, i, rd, pj, invf), qi);
        if (rot) qp = mad(d, fb_rot(y, yb, y_s3, p, rd, pj, invf), qp);
    }
    const ocla_idx sb = ((ocla_idx)bh * G + (causal ? g : 0)) * S * E;
    float li = 0.0f, lp = 0.0f;
    for (int j = 0; j < E; j++) {
        const float x = OCLA_LD(u, OCLA_OFF(u, b, row, h, j));
        li = mad(st[sb + (ocla_idx)i * E + j], x, li);
        if (rot) lp = mad(st[sb + (ocla_idx)p * E + j], x, lp);
    }
    const float pr = (float)(pos0 + row - ch.q0);
    OCLA_ST(dquad, OCLA_OFF(dquad, b, row, h, i), qs * ocla_rope(qi, qp, i, rd, -pr, invf));
    OCLA_ST(dlin, OCLA_OFF(dlin, b, row, h, i), ocla_rope(li, lp, i, rd, -pr, invf));
}

OCLA_KERNEL void flashb_dv(OCLA_DTENSOR(kl), OCLA_DTENSOR(dout), __global const float *invf, OCLA_BUF(A),
                           __global const float *dS, OCLA_DTENSOR_OUT(dv), int T, int H, int S, int E, int C, int G,
                           int causal, int rd, long pos0, OCLA_SEQ) {
    const int j = (int)get_global_id(0), s = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (j >= E || s >= T) return;
    const int b = bh / H, h = bh % H;
    const ocla_fchunk ch = ocla_fchunk_of(s, T, C, seq_buf + seq_o, nseq);
    const int g = ch.g, c = s - ch.s0, t1 = ch.s1;
    float acc = 0.0f;
    for (int t = causal ? s : ch.s0; t < t1; t++)
        acc = mad(A[A_o + ((ocla_idx)bh * T + t) * C + c], OCLA_LD(dout, OCLA_OFF(dout, b, t, h, j)), acc);
    const ocla_idx db = ((ocla_idx)bh * G + (causal ? g : 0)) * S * E + j, kb = OCLA_OFF(kl, b, s, h, 0);
    const float ps = (float)(pos0 + s - ch.q0);
    for (int i = 0; i < S; i++) acc = mad(fb_rot(kl, kb, kl_s3, i, rd, ps, invf), dS[db + (ocla_idx)i * E], acc);
    OCLA_ST(dv, OCLA_OFF(dv, b, s, h, j), acc);
}

/* P[bh, g, k] = sum over the tokens t of chunk g of dX[bh, t, s - gC] with t - s = k - (C - 1) (the
 * bias index), s in the chunk; dX is 0 where the score was masked. */
OCLA_KERNEL void flashb_dbias(OCLA_BUF(dX), OCLA_BUF_OUT(P), int T, int C, int G, OCLA_SEQ) {
    const int k = (int)get_global_id(0), g = (int)get_global_id(1), bh = (int)get_global_id(2);
    const int nk = 2 * C - 1;
    if (k >= nk || g >= G) return;
    const ocla_fchunk ch = ocla_fchunk_at(g, T, C, seq_buf + seq_o, nseq);
    const int d = k - (C - 1), s0 = ch.s0, t1 = ch.s1;
    float acc = 0.0f;
    for (int t = max(s0, s0 + d); t < t1 && t - d < s0 + C; t++) acc += dX[dX_o + ((ocla_idx)bh * T + t) * C + (t - d - s0)];
    P[P_o + ((ocla_idx)bh * G + g) * nk + k] = acc;
}

/* d bias[h, k] = bs * sum over the batch and the chunks of P[(b*H + h), g, k]; d bias as the forward's
 * bias: (buffer, offset, stride between heads), contiguous along k. This launch sums the (b, g) pairs
 * n = b*G + g in [n0, n1), after the first launch (acc = 1) onto the running sum R[h, k] (fp32, so a
 * half d bias is rounded once); the last launch (last = 1) stores bs times the sum in d bias, the
 * others keep it in R. The host splits B*G into launches of at most 32768 (llvmpipe's per-item loop
 * limit, common.cl). */
OCLA_KERNEL void flashb_dbias_sum(OCLA_BUF(P), OCLA_BUF_OUT(R), __global ocla_data *db, ocla_idx db_o, ocla_idx db_h,
                                  int H, int C, int G, int n0, int n1, int acc, int last, float bs) {
    const int k = (int)get_global_id(0), h = (int)get_global_id(1);
    const int nk = 2 * C - 1;
    if (k >= nk || h >= H) return;
    const ocla_idx r = R_o + (ocla_idx)h * nk + k;
    float sum = acc ? R[r] : 0.0f;
    for (int n = n0; n < n1; n++) {
        const int b = n / G, g = n - b * G;
        sum += P[P_o + ((ocla_idx)(b * H + h) * G + g) * nk + k];
    }
    if (last) OCLA_ST(db, db_o + (ocla_idx)h * db_h + k, bs * sum);
    else R[r] = sum;
}
