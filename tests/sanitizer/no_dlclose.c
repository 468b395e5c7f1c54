/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for the sanitizer and leak runs: dlclose() does nothing.
 *
 * OpenCL drivers (PoCL's device plugins, the kernels it loads as shared objects, Mesa's rusticl)
 * and the ICD loader dlopen() libraries and close them at exit. LeakSanitizer and valgrind report
 * leaks after that, so the frames of an allocation made inside an unloaded library print as
 * "<unknown module>" / "???" and can be neither read nor suppressed by name. Keeping every library
 * mapped makes each leaked allocation name its library, so the suppression files can name drivers
 * precisely and any leak from ocla code stays visible. It changes nothing else. */
int dlclose(void *handle);
int dlclose(void *handle) {
    (void)handle;
    return 0;
}
