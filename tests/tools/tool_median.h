/* SPDX-License-Identifier: MIT */
/* The median of n timings (sorts t in place), for the timing tools of tests/tools. */
#ifndef OCLA_TOOL_MEDIAN_H
#define OCLA_TOOL_MEDIAN_H

static inline double tool_median(double *t, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            const double s = t[j];
            t[j] = t[j - 1], t[j - 1] = s;
        }
    return t[n / 2];
}

#endif
