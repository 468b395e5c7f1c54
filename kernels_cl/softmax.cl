/* softmax.cl: tiled (flash-style) softmax attention, fp32, OpenCL C 1.2.
 *
 *   o[b,t,h,:] = sum_s p_ts v[b,s,h,:],  p_ts = exp(x_ts - m_t) / l_t,  x_ts = scale * q[b,t,h,:] . k[b,s,h,:]
 *   (s <= t when causal), with the running maximum m_t and sum l_t updated block by block (online
 *   softmax): the T x T score matrix never exists in memory.
 *
 * Shapes: q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V], o [B,T,H,V] (causal: Tk = T), any strides (elements). One work-group = BQ query rows of one
 * (b, h); each work-item owns one query row (q and the output accumulator in private memory) and the
 * group stages BQ key rows and BQ value rows at a time in local memory.
 * Build options: -DBQ (block rows = work-group size), -DDK >= K, -DDV >= V (private/local widths).
 * Key blocks [kb0, kb1) per launch: first = 1 starts from m = -inf, l = 0, acc = 0, else from st;
 * final_pass = 1 writes o, else saves (m, l, acc) to st ([B*H, grid rows, DV + 2]). The host splits
 * the keys over several launches where the driver caps a work-item's loop iterations (Mesa llvmpipe:
 * 65535 in total per invocation, gallivm's loop limiter; beyond it rows come out wrong, no error).
 */
#define TP(x) __global const float *x, long x##o, long x##s0, long x##s1, long x##s2, long x##s3
#define TI(x, b, t, h, d) (x##o + (long)(b) * x##s0 + (long)(t) * x##s1 + (long)(h) * x##s2 + (long)(d) * x##s3)

__kernel __attribute__((reqd_work_group_size(BQ, 1, 1))) void sm_forward(TP(q), TP(k), TP(v), __global float *o,
                                                                           long oo, long os0, long os1, long os2,
                                                                           long os3, int T, int Tk, int H, int K, int V,
                                                                           float scale, int causal, int kb0, int kb1,
                                                                           int first, int final_pass,
                                                                           __global float *st) {
    __local float ks[BQ][DK];
    __local float vs[BQ][DV];
    const int lid = (int)get_local_id(0);
    const int blk = (int)get_group_id(0);
    const int bh = (int)get_global_id(1);
    const int b = bh / H, h = bh % H;
    const int t = blk * BQ + lid;
    const int tq = t < T ? t : T - 1;
    float qr[DK], acc[DV];
    for (int d = 0; d < DK; d++) qr[d] = d < K ? scale * q[TI(q, b, tq, h, d)] : 0.0f;
    for (int d = 0; d < DV; d++) acc[d] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    /* state of an earlier launch over key blocks [0, kb0): row (bh, t) of st holds m, l, acc[DV] */
    __global float *row = st + ((long)bh * get_global_size(0) + (long)blk * BQ + lid) * (DV + 2);
    if (!first) {
        m = row[0], l = row[1];
        for (int d = 0; d < V; d++) acc[d] = row[2 + d];
    }
    const int nblk = (Tk + BQ - 1) / BQ;
    const int last = min(kb1, causal ? blk + 1 : nblk);
    for (int kb = kb0; kb < last; kb++) {
        const int s_load = kb * BQ + lid;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int d = 0; d < K; d++) ks[lid][d] = (s_load < Tk) ? k[TI(k, b, s_load, h, d)] : 0.0f;
        for (int d = 0; d < V; d++) vs[lid][d] = (s_load < Tk) ? v[TI(v, b, s_load, h, d)] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        int jmax = Tk - kb * BQ;
        if (jmax > BQ) jmax = BQ;
        if (causal && kb == blk) jmax = min(jmax, lid + 1);
        for (int j = 0; j < jmax; j++) {
            float x = 0.0f;
            for (int d = 0; d < K; d++) x = fma(qr[d], ks[j][d], x);
            if (x > m) { /* new maximum: rescale what was accumulated so far */
                const float c = exp(m - x);
                l *= c;
                for (int d = 0; d < V; d++) acc[d] *= c;
                m = x;
            }
            const float p = exp(x - m);
            l += p;
            for (int d = 0; d < V; d++) acc[d] = fma(p, vs[j][d], acc[d]);
        }
    }
    if (!final_pass) {
        row[0] = m, row[1] = l;
        for (int d = 0; d < V; d++) row[2 + d] = acc[d];
        return;
    }
    if (t < T) {
        const float inv = 1.0f / l;
        for (int d = 0; d < V; d++) o[TI(o, b, t, h, d)] = acc[d] * inv;
    }
}
