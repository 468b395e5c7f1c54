/* SPDX-License-Identifier: MIT */
/* softmax_bwd.cl: backward of the tiled softmax attention of softmax.cl (flash-style: P is
 * recomputed from q, k and each row's logsumexp, never stored), OpenCL C 1.2. q, k, v, o, do and the
 * gradients of element type ocla_data (-DOCLA_DTYPE, common.cl: fp32, bf16 or fp16 storage); the
 * logsumexp, D, P, dS and every accumulator fp32, each gradient rounded once on its store.
 *
 * Forward:  x_ts = scale * q_t . k_s,  p_ts = exp(x_ts - lse_t) (s <= t when causal),  o_t = sum_s p_ts v_s.
 * Backward, given do = dL/do:
 *   D_t    = do_t . o_t                         (= sum_s p_ts (do_t . v_s))
 *   ds_ts  = p_ts (do_t . v_s - D_t)
 *   dq_t   = scale sum_s ds_ts k_s,   dk_s = scale sum_t ds_ts q_t,   dv_s = sum_t p_ts do_t.
 *
 * Shapes: q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V], o, do [B,T,H,V] (causal: Tk = T), any strides
 * (elements); dq, dk, dv as q, k, v. st: [B*H, T, 2] floats (runtime/op_softmax_bwd.c's scratch).
 *
 * Three kernels, one program (runtime/plan_softmax.c picks every tile; runtime/op_softmax_bwd.c runs
 * them in this order):
 *   smb_stats  a work-group owns BQ query rows of one (b, h) and walks the key blocks of BK rows:
 *              the rows' running maximum and sum (st = (m, l) between launches), then st = (lse, D)
 *              on the final launch.
 *   smb_dq     the same rows and blocks: dq (accumulated in dq itself between launches).
 *   smb_dkv    a work-group owns BQ key rows and walks the query blocks of BK rows (st = (lse, D)):
 *              dk and dv (accumulated in dk, dv between launches).
 * Work-group: NT = BQ * DS items, DS per owned row; item (r, js) holds the dims js, js + DS, ... of
 * its row's two operands and of its row's gradients in private memory (DK/DS + DV/DS floats each:
 * the plan keeps the operands within 32 floats where the work-group limit allows). Per block of the
 * other side (staged in local memory): partial dot products over the item's dims for every row of
 * the block, summed over the row's DS items through local memory (item js sums the rows js, js + DS,
 * ...), P and dS to local memory, then every item accumulates its dims. Local memory (a __local
 * argument, floats): the block's two operands [BK][DK], [BK][DV] and its (lse, D) [BK][2], the
 * partial sums [2][BQ][BK][DS], P and dS [BQ][BK]. Rows and dims outside the tensors are zero,
 * scores outside them masked. The host splits the blocks over launches [blk0, blk1) where the
 * driver caps a work-item's loop iterations (Mesa llvmpipe), as the forward does; first = 1 starts
 * the accumulators from zero, else from gacc, and a launch that is not the final one (final_pass = 0)
 * leaves them in gacc (fp32 [B*H][rows][DK + DV], the op's scratch) instead of storing the gradients. Every macro has a default, so the file compiles on its own after
 * common.cl.
 */
#ifndef BQ /* the runtime sets all five */
#define BQ 16
#define BK 16
#define DS 4
#define DK 64
#define DV 64
#endif
#define NT (BQ * DS)
#define NA (DK / DS)                     /* an item's dims of the first operand */
#define NB (DV / DS)                     /* and of the second */
#define OTH_A 0                          /* the block's first operand [BK][DK] (smb_dq: k, smb_dkv: q) */
#define OTH_B (BK * DK)                  /* its second operand [BK][DV] (v, do) */
#define OTH_S (OTH_B + BK * DV)          /* its (lse, D) [BK][2] (smb_dkv) */
#define PART (OTH_S + 2 * BK)            /* partial dot products [2][BQ][BK][DS] */
#define SM_P (PART + 2 * BQ * BK * DS)   /* P [BQ][BK] (smb_dkv) */
#define SM_DS (SM_P + BQ * BK)           /* scale * dS [BQ][BK] */
#define SM_FLOATS (SM_DS + BQ * BK)      /* runtime/plan_softmax.c counts the same */

/* n rows from row r0 (those below rlim) of dims [0, dp) (those below lim) of p at base, rows s1 and
 * dims s3 apart, into local memory at off (dense rows of dp); zeros elsewhere. */
OCLA_INLINE void smb_load(__local float *sm, int off, int n, int dp, int r0, int rlim, int lim,
                          __global const ocla_data *p, ocla_idx base, ocla_idx s1, ocla_idx s3) {
    for (int f = (int)get_local_id(0); f < n * dp; f += NT) {
        const int r = f / dp, d = f % dp;
        sm[off + f] = (r0 + r < rlim && d < lim) ? OCLA_LD(p, base + (ocla_idx)(r0 + r) * s1 + (ocla_idx)d * s3) : 0.0f;
    }
}

/* An item's dims js, js + DS, ... of row t (valid) of p, zero outside [0, lim). */
OCLA_INLINE void smb_row(float *x, int n, int js, int valid, int lim, __global const ocla_data *p, ocla_idx base,
                         ocla_idx s3) {
    for (int i = 0; i < n; i++) {
        const int d = js + DS * i;
        x[i] = (valid && d < lim) ? OCLA_LD(p, base + (ocla_idx)d * s3) : 0.0f;
    }
}
/* An item's accumulators (its dims js, js + DS, ... of a gradient row) from an earlier launch: row g
 * of gacc (zero where first or the row is outside); smb_acc_out keeps them there for the next. */
OCLA_INLINE void smb_acc_in(float *x, int n, int js, int from, __global const float *g) {
    for (int i = 0; i < n; i++) x[i] = from ? g[js + DS * i] : 0.0f;
}
OCLA_INLINE void smb_acc_out(const float *x, int n, int js, int valid, __global float *g) {
    for (int i = 0; i < n; i++)
        if (valid) g[js + DS * i] = x[i];
}
/* The item's dims of a gradient row, rounded to the tensor's type (those below lim). */
OCLA_INLINE void smb_store(const float *x, int n, int js, int valid, int lim, __global ocla_data *p, ocla_idx base,
                           ocla_idx s3) {
    for (int i = 0; i < n; i++) {
        const int d = js + DS * i;
        if (valid && d < lim) OCLA_ST(p, base + (ocla_idx)d * s3, x[i]);
    }
}

/* The item's partial dot products of its row (a, b: its dims) with every row of the block, into
 * PART; with_b = 0: the first operand only. */
OCLA_INLINE void smb_partials(__local float *sm, const float *a, const float *b, int r, int js, int with_b) {
    for (int j = 0; j < BK; j++) {
        float x = 0.0f, y = 0.0f;
#pragma unroll
        for (int i = 0; i < NA; i++) x = mad(a[i], sm[OTH_A + j * DK + js + DS * i], x);
        if (with_b)
#pragma unroll
            for (int i = 0; i < NB; i++) y = mad(b[i], sm[OTH_B + j * DV + js + DS * i], y);
        sm[PART + (r * BK + j) * DS + js] = x;
        sm[PART + BQ * BK * DS + (r * BK + j) * DS + js] = y;
    }
}

/* One step over a block of the other side (rows r0.. below rlim): its first operand (and with
 * with_b its second) staged in local memory, then every item's partial dot products in PART, visible
 * to the whole work-group. Every item calls it (barriers). */
OCLA_INLINE void smb_stage(__local float *sm, const float *a, const float *b, int r, int js, int with_b, int r0,
                           int rlim, int K, int V, __global const ocla_data *pa, ocla_idx abase, ocla_idx as1,
                           ocla_idx as3, __global const ocla_data *pb, ocla_idx bbase, ocla_idx bs1, ocla_idx bs3) {
    barrier(CLK_LOCAL_MEM_FENCE);
    smb_load(sm, OTH_A, BK, DK, r0, rlim, K, pa, abase, as1, as3);
    if (with_b) smb_load(sm, OTH_B, BK, DV, r0, rlim, V, pb, bbase, bs1, bs3);
    barrier(CLK_LOCAL_MEM_FENCE);
    smb_partials(sm, a, b, r, js, with_b);
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* The full dot product of row r with block row j from PART (which 0: first operand, 1: second). */
OCLA_INLINE float smb_sum(__local const float *sm, int which, int r, int j) {
    float x = 0.0f;
    for (int u = 0; u < DS; u++) x += sm[PART + which * BQ * BK * DS + (r * BK + j) * DS + u];
    return x;
}

/* The query block of work-group (bh, y), the longest causal rows first. */
#define SMB_Q0() (((int)get_num_groups(1) - 1 - (int)get_group_id(1)) * BQ)

/* ---- smb_stats: the rows' (m, l) over the key blocks [kb0, kb1) in st, (lse, D) on the final launch ---- */
OCLA_KERNEL __attribute__((reqd_work_group_size(NT, 1, 1))) void
smb_stats(OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(o), OCLA_DTENSOR(dout), int T, int Tk, int H, int K, int V,
          float scale, int causal, int kb0, int kb1, int first, int final_pass, __global float *st, __local float *sm) {
    const int lid = (int)get_local_id(0), r = lid / DS, js = lid % DS, bh = (int)get_group_id(0);
    const int b = bh / H, h = bh % H, q0 = SMB_Q0(), t = q0 + r, valid = t < T, tc = valid ? t : 0;
    __global float *srow = st + ((ocla_idx)bh * T + tc) * 2;
    const ocla_idx kbase = OCLA_OFF(k, b, 0, h, 0);
    float a[NA];
    smb_row(a, NA, js, valid, K, q, OCLA_OFF(q, b, tc, h, 0), q_s3);
    const int nkb = (Tk + BK - 1) / BK;
    const int kend = min(kb1, causal ? min(nkb, (q0 + BQ - 1) / BK + 1) : nkb);
    float m = -INFINITY, l = 0.0f;
    if (!first && js == 0 && valid) m = srow[0], l = srow[1];
    for (int kb = kb0; kb < kend; kb++) {
        smb_stage(sm, a, a, r, js, 0, kb * BK, Tk, K, V, k, kbase, k_s1, k_s3, k, kbase, k_s1, k_s3);
        for (int j = js; j < BK; j += DS) {
            const int s = kb * BK + j;
            if (valid && s < Tk && (!causal || s <= t)) {
                const float x = scale * smb_sum(sm, 0, r, j);
                if (x > m) l *= exp(m - x), m = x; /* exp(-inf) = 0 for the first key */
                l += exp(x - m);
            }
        }
    }
    /* the row's (m, l) and, on the final launch, its D = do . o, over its DS items */
    float dpart = 0.0f;
    if (final_pass) {
        const ocla_idx ob = OCLA_OFF(o, b, tc, h, 0), db = OCLA_OFF(dout, b, tc, h, 0);
        for (int i = 0; i < NB; i++) {
            const int d = js + DS * i;
            if (valid && d < V) dpart = mad(OCLA_LD(dout, db + (ocla_idx)d * dout_s3), OCLA_LD(o, ob + (ocla_idx)d * o_s3), dpart);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    sm[PART + 3 * lid] = m, sm[PART + 3 * lid + 1] = l, sm[PART + 3 * lid + 2] = dpart; /* 3 NT <= 2 BQ BK DS */
    barrier(CLK_LOCAL_MEM_FENCE);
    if (js == 0 && valid) {
        float mm = -INFINITY, ll = 0.0f, dsum = 0.0f;
        for (int u = 0; u < DS; u++) mm = fmax(mm, sm[PART + 3 * (lid + u)]);
        for (int u = 0; u < DS; u++) {
            const float mu = sm[PART + 3 * (lid + u)];
            if (mu != -INFINITY) ll += sm[PART + 3 * (lid + u) + 1] * exp(mu - mm);
            dsum += sm[PART + 3 * (lid + u) + 2];
        }
        if (final_pass) srow[0] = mm + log(ll), srow[1] = dsum;
        else srow[0] = mm, srow[1] = ll;
    }
}

/* ---- smb_dq: dq of BQ query rows over the key blocks [kb0, kb1) (st = (lse, D)) ---- */
OCLA_KERNEL __attribute__((reqd_work_group_size(NT, 1, 1))) void
smb_dq(OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(v), OCLA_DTENSOR(dout), OCLA_DTENSOR_OUT(dq), int T, int Tk,
       int H, int K, int V, float scale, int causal, int kb0, int kb1, int first, int final_pass,
       __global const float *st, __global float *gacc, __local float *sm) {
    const int lid = (int)get_local_id(0), r = lid / DS, js = lid % DS, bh = (int)get_group_id(0);
    const int b = bh / H, h = bh % H, q0 = SMB_Q0(), t = q0 + r, valid = t < T, tc = valid ? t : 0;
    __global const float *srow = st + ((ocla_idx)bh * T + tc) * 2;
    const ocla_idx kbase = OCLA_OFF(k, b, 0, h, 0), vbase = OCLA_OFF(v, b, 0, h, 0);
    float a[NA], bb[NB];
    smb_row(a, NA, js, valid, K, q, OCLA_OFF(q, b, tc, h, 0), q_s3);
    smb_row(bb, NB, js, valid, V, dout, OCLA_OFF(dout, b, tc, h, 0), dout_s3);
    const int nkb = (Tk + BK - 1) / BK;
    const int kend = min(kb1, causal ? min(nkb, (q0 + BQ - 1) / BK + 1) : nkb);
    const float lse = valid ? srow[0] : 0.0f, dr = valid ? srow[1] : 0.0f;
    const ocla_idx qo = OCLA_OFF(dq, b, tc, h, 0);
    __global float *grow = gacc + ((ocla_idx)bh * T + tc) * (DK + DV);
    float acc[NA];
    smb_acc_in(acc, NA, js, valid && !first, grow);
    for (int kb = kb0; kb < kend; kb++) {
        smb_stage(sm, a, bb, r, js, 1, kb * BK, Tk, K, V, k, kbase, k_s1, k_s3, v, vbase, v_s1, v_s3);
        for (int j = js; j < BK; j += DS) {
            const int s = kb * BK + j;
            float g = 0.0f;
            if (valid && s < Tk && (!causal || s <= t)) {
                const float p = exp(scale * smb_sum(sm, 0, r, j) - lse);
                g = scale * p * (smb_sum(sm, 1, r, j) - dr);
            }
            sm[SM_DS + r * BK + j] = g;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int j = 0; j < BK; j++) {
            const float g = sm[SM_DS + r * BK + j];
#pragma unroll
            for (int i = 0; i < NA; i++) acc[i] = mad(g, sm[OTH_A + j * DK + js + DS * i], acc[i]);
        }
    }
    if (!final_pass) smb_acc_out(acc, NA, js, valid, grow);
    else smb_store(acc, NA, js, valid, K, dq, qo, dq_s3);
}

/* ---- smb_dkv: dk and dv of BQ key rows over the query blocks [qb0, qb1) ---- */
OCLA_KERNEL __attribute__((reqd_work_group_size(NT, 1, 1))) void
smb_dkv(OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(v), OCLA_DTENSOR(dout), OCLA_DTENSOR_OUT(dk),
        OCLA_DTENSOR_OUT(dv), int T, int Tk, int H, int K, int V, float scale, int causal, int qb0, int qb1, int first,
        int final_pass, __global const float *st, __global float *gacc, __local float *sm) {
    const int lid = (int)get_local_id(0), r = lid / DS, js = lid % DS, bh = (int)get_group_id(0);
    const int b = bh / H, h = bh % H;
    const int s0 = (int)get_group_id(1) * BQ, s = s0 + r, valid = s < Tk, sc = valid ? s : 0;
    const ocla_idx qbase = OCLA_OFF(q, b, 0, h, 0), dbase = OCLA_OFF(dout, b, 0, h, 0);
    __global const float *stb = st + (ocla_idx)bh * T * 2;
    float a[NA], bb[NB];
    smb_row(a, NA, js, valid, K, k, OCLA_OFF(k, b, sc, h, 0), k_s3);
    smb_row(bb, NB, js, valid, V, v, OCLA_OFF(v, b, sc, h, 0), v_s3);
    const int nqb = (T + BK - 1) / BK;
    const int qstart = max(qb0, causal ? s0 / BK : 0), qend = min(qb1, nqb);

    const ocla_idx ko = OCLA_OFF(dk, b, sc, h, 0), vo = OCLA_OFF(dv, b, sc, h, 0);
    __global float *grow = gacc + ((ocla_idx)bh * Tk + sc) * (DK + DV);
    float ak[NA], av[NB];
    smb_acc_in(ak, NA, js, valid && !first, grow);
    smb_acc_in(av, NB, js, valid && !first, grow + DK);
    for (int qb = qstart; qb < qend; qb++) {
        /* the block's (lse, D): the last reads of the previous step's are behind its P / dS barrier */
        for (int f = lid; f < 2 * BK; f += NT) sm[OTH_S + f] = qb * BK + f / 2 < T ? stb[(ocla_idx)qb * BK * 2 + f] : 0.0f;
        smb_stage(sm, a, bb, r, js, 1, qb * BK, T, K, V, q, qbase, q_s1, q_s3, dout, dbase, dout_s1, dout_s3);
        for (int j = js; j < BK; j += DS) {
            const int t = qb * BK + j;
            float p = 0.0f, g = 0.0f;
            if (valid && t < T && (!causal || s <= t)) {
                p = exp(scale * smb_sum(sm, 0, r, j) - sm[OTH_S + 2 * j]);
                g = scale * p * (smb_sum(sm, 1, r, j) - sm[OTH_S + 2 * j + 1]);
            }
            sm[SM_P + r * BK + j] = p, sm[SM_DS + r * BK + j] = g;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int j = 0; j < BK; j++) {
            const float p = sm[SM_P + r * BK + j], g = sm[SM_DS + r * BK + j];
#pragma unroll
            for (int i = 0; i < NA; i++) ak[i] = mad(g, sm[OTH_A + j * DK + js + DS * i], ak[i]);
#pragma unroll
            for (int i = 0; i < NB; i++) av[i] = mad(p, sm[OTH_B + j * DV + js + DS * i], av[i]);
        }
    }
    if (!final_pass) {
        smb_acc_out(ak, NA, js, valid, grow);
        smb_acc_out(av, NB, js, valid, grow + DK);
    } else {
        smb_store(ak, NA, js, valid, K, dk, ko, dk_s3);
        smb_store(av, NB, js, valid, V, dv, vo, dv_s3);
    }
}
