/* ocla training API: backward passes of the attention ops and of the layers' projections.
 *
 * Attention backward (causal, chunked): for the forward of <ocla/attention.h>
 *
 *   S_t = diag(exp(min(g_t,0))) S_{t-1} + phi(k_t) v_t^T,   z_t = diag(exp(min(g_t,0))) z_{t-1} + phi(k_t)
 *   o_t = scale * phi(q_t)^T S_t   [ / (scale * phi(q_t)^T z_t + eps) when normalize ]
 *
 * and a scalar loss L with dL/do = d_o, dL/dS_T = d_final_state, dL/dz_T = d_final_z, compute
 * dL/dq, dL/dk, dL/dv, dL/dg (w.r.t. the raw natural-log gate g as passed to the forward),
 * dL/dS_0 and dL/dz_0. Gate kinds: none (linear attention), scalar (simple GLA), fixed (retention:
 * no dg), vector (GLA). Feature maps identity, elu+1, relu (the chain rule through phi is applied;
 * relu passes gradient only where x > 0). Positive log gates: the forward uses min(g,0), so dg is
 * 0 wherever g >= 0. The math and the memory cost are in docs/TRAINING.md ("Backward").
 */
#ifndef OCLA_TRAIN_H
#define OCLA_TRAIN_H
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocla_attn_grad_io {
    /* forward inputs, exactly as given to ocla_attention_forward */
    const ocla_tensor *q, *k, *v;       /* [B,T,H,K], [B,T,H,K], [B,T,H,V] */
    const ocla_tensor *g;               /* [B,T,H] (scalar) or [B,T,H,K] (vector) per params.gate; else NULL */
    const ocla_tensor *initial_state;   /* [B,H,K,V] or NULL (zeros) */
    const ocla_tensor *initial_z;       /* [B,H,K] or NULL; only with normalize */
    /* upstream gradients */
    const ocla_tensor *d_o;             /* [B,T,H,V] dL/do (required) */
    const ocla_tensor *d_final_state;   /* [B,H,K,V] or NULL (zeros) */
    const ocla_tensor *d_final_z;       /* [B,H,K] or NULL (zeros); only with normalize */
    /* outputs (overwritten, never accumulated) */
    ocla_tensor *dq, *dk, *dv;          /* shapes of q, k, v (required) */
    ocla_tensor *dg;                    /* shape of g, or NULL to skip; must be NULL for FIXED/NONE */
    ocla_tensor *d_initial_state;       /* [B,H,K,V] or NULL to skip */
    ocla_tensor *d_initial_z;           /* [B,H,K] or NULL to skip; only with normalize */
} ocla_attn_grad_io;

/* Backward of the causal chunked forward (params.causal must be 1; params.form is ignored: the
 * gradient is that of the exact forward, whichever form computed it). params.chunk (or OCLA_CHUNK)
 * picks the chunk; 0 = min(64, max(16, next_pow2(T))) as in flash-linear-attention. Temporary
 * device memory is allocated for the call and released before it returns (docs/TRAINING.md). */
OCLA_API ocla_status ocla_attention_backward(ocla_context *ctx, const ocla_attn_params *params,
                                             const ocla_attn_grad_io *io);

/* Projection backward through CLBlast. Y = X W with X [M, IN], W [IN, OUT], Y [M, OUT], every
 * tensor dense row-major (any ndim: the last dim is the feature dim, the rest are flattened to M).
 *   dX = dY W^T  (skipped when dX is NULL)
 *   dW = X^T dY  (skipped when dW is NULL; accumulated into dW when accumulate_dw != 0)   */
OCLA_API ocla_status ocla_linear_forward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                         ocla_tensor *Y);
OCLA_API ocla_status ocla_linear_backward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                          const ocla_tensor *dY, ocla_tensor *dX, ocla_tensor *dW,
                                          int accumulate_dw);

/* Plain SGD step on a dense tensor: param -= lr * grad (same element count). */
OCLA_API ocla_status ocla_sgd_step(ocla_context *ctx, ocla_tensor *param, const ocla_tensor *grad, float lr);

/* GLA gate nonlinearity (fla's default with tau = 16): g = logsigmoid(x) / tau elementwise, and its
 * backward dx = dg * sigmoid(-x) / tau. Dense tensors of equal element count; tau > 0. */
OCLA_API ocla_status ocla_gate_logsigmoid(ocla_context *ctx, const ocla_tensor *x, ocla_tensor *g, float tau);
OCLA_API ocla_status ocla_gate_logsigmoid_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *dg,
                                                   ocla_tensor *dx, float tau);

#ifdef __cplusplus
}
#endif
#endif
