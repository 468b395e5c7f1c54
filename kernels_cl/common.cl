/* common.cl: prepended by the runtime to every ocla program. Keep it tiny: only what every kernel
 * file may rely on. OpenCL C 1.2, fp32.
 *
 *   OCLA_INLINE    'inline' where the compiler accepts it (CLBlast: not all do)
 *   OCLA_KERNEL    marks kernels
 *   ocla_idx       64-bit index type for buffer offsets (B*T*H*D can exceed 2^31)
 */
#ifndef OCLA_COMMON_CL
#define OCLA_COMMON_CL
#define OCLA_INLINE inline
#define OCLA_KERNEL __kernel
typedef long ocla_idx;
#endif
