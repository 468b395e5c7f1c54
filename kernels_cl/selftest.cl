/* SPDX-License-Identifier: MIT */
/* selftest.cl: the smallest useful program. ocla-info builds and runs it to say whether the
 * library can build and run kernels on a device; the tests build it with OCLA_SELFTEST_BROKEN to
 * check that a failing build returns OCLA_ERR_BUILD with the build log.
 *
 * y[i] = a * x[i] + y[i] for i < n. */
OCLA_KERNEL void ocla_selftest_axpy(const int n, const float a, __global const float *x, __global float *y) {
    int i = (int)get_global_id(0);
    if (i < n) y[i] = a * x[i] + y[i];
}

#ifdef OCLA_SELFTEST_BROKEN
OCLA_KERNEL void ocla_selftest_broken(__global float *y) {
    y[0] = this_identifier_does_not_exist; /* deliberate build error */
}
#endif
