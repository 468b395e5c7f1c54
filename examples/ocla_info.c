/* SPDX-License-Identifier: MIT */
/* ocla-info: every OpenCL platform and device, the limits ocla's scheduler uses, whether ocla can
 * build and run its kernels there, and the plans it would pick for a standard shape.
 *
 *   ocla-info            all devices
 *   ocla-info <selector> one device (index, platform:device, gpu, cpu, or a name substring)
 */
#include <stdio.h>
#include <string.h>

#include "ocla/ocla.h"

static void show_plans(ocla_context *ctx) {
    static const struct {
        ocla_op_kind op;
        const char *name;
    } ops[] = {{OCLA_OP_LINEAR_CHUNK, "linear attention"},
               {OCLA_OP_SIMPLE_GLA_CHUNK, "simple GLA"},
               {OCLA_OP_GLA_CHUNK, "GLA"},
               {OCLA_OP_FLASH_CHUNK, "FLASH"},
               {OCLA_OP_SOFTMAX_TILED, "softmax"}};
    printf("  plans for (B,T,H,K,V) = (4,2048,16,128,128):\n");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        ocla_plan_request req = {ops[i].op, 4, 2048, 16, 128, 128, 0, 0, 0, 0};
        ocla_plan plan;
        char text[512];
        ocla_status st = ocla_plan_explain(ctx, &req, &plan, text, sizeof text);
        if (st == OCLA_SUCCESS)
            printf("    %-17s %s\n", ops[i].name, text);
        else
            printf("    %-17s no plan: %s: %s\n", ops[i].name, ocla_status_string(st), ocla_last_error(ctx));
    }
}

static void show_device(size_t i) {
    ocla_device_info d;
    ocla_status st = ocla_device_get_info(i, &d);
    if (st != OCLA_SUCCESS) {
        printf("device %zu: %s: %s\n", i, ocla_status_string(st), ocla_last_error(NULL));
        return;
    }
    printf("device %zu  [platform %d, device %d]  %s\n", i, d.platform_index, d.device_index, d.device_name);
    printf("  platform        %s (%s)\n", d.platform_name, d.platform_version);
    printf("  vendor          %s (reported \"%s\"), %s\n", ocla_vendor_name(d.vendor), d.device_vendor,
           d.is_gpu ? "GPU" : d.is_cpu ? "CPU" : "other");
    printf("  versions        %s; %s; driver %s\n", d.device_version, d.opencl_c_version, d.driver_version);
    printf("  compute units   %u\n", d.compute_units);
    printf("  local memory    %llu bytes\n", (unsigned long long)d.local_mem_size);
    printf("  work-group      max %llu, items %llu x %llu x %llu, preferred multiple %u%s\n",
           (unsigned long long)d.max_work_group_size, (unsigned long long)d.max_work_item_sizes[0],
           (unsigned long long)d.max_work_item_sizes[1], (unsigned long long)d.max_work_item_sizes[2],
           d.preferred_wg_multiple, d.preferred_wg_multiple ? "" : " (unknown)");
    printf("  memory          global %.2f GiB, max allocation %.2f GiB\n", d.global_mem_size / 1073741824.0,
           d.max_alloc_size / 1073741824.0);
    printf("  features        fp16 %s, fp64 %s, subgroups %s, event timestamps %s\n", d.has_fp16 ? "yes" : "no",
           d.has_fp64 ? "yes" : "no", d.has_subgroups ? "yes" : "no", d.profiling_works ? "yes" : "no (host clock)");

    char sel[32];
    snprintf(sel, sizeof sel, "%zu", i);
    ocla_context_options opts;
    ocla_context_options_defaults(&opts);
    opts.device = sel;
    ocla_context *ctx = NULL;
    st = ocla_context_create(&opts, &ctx);
    if (st != OCLA_SUCCESS) {
        printf("  ocla kernels    NO: cannot create a context: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL));
        return;
    }
    double build_s = 0;
    st = ocla_selftest(ctx, &build_s);
    if (st == OCLA_SUCCESS)
        printf("  ocla kernels    yes (selftest built in %.3f s and ran correctly)\n", build_s);
    else
        printf("  ocla kernels    NO: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
    ocla_cache_stats cs;
    if (ocla_cache_get_stats(ctx, &cs) == OCLA_SUCCESS)
        printf("  program cache   %s\n", cs.disk_enabled ? "memory + disk" : "memory (disk cache off or left to the driver)");
    show_plans(ctx);
    ocla_context_destroy(ctx);
}

int main(int argc, char **argv) {
    printf("ocla %s\n", ocla_version());
    if (argc > 1) {
        size_t idx;
        ocla_status st = ocla_device_select(argv[1], &idx);
        if (st != OCLA_SUCCESS) {
            fprintf(stderr, "ocla-info: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL));
            return 1;
        }
        show_device(idx);
        return 0;
    }
    size_t n = 0;
    ocla_status st = ocla_device_count(&n);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "ocla-info: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL));
        return 1;
    }
    printf("%zu OpenCL device(s)\n\n", n);
    if (n == 0)
        printf("No OpenCL device: install a driver (e.g. apt install pocl-opencl-icd) or set RUSTICL_ENABLE=llvmpipe "
               "for Mesa's CPU device.\n");
    for (size_t i = 0; i < n; i++) {
        show_device(i);
        printf("\n");
    }
    size_t def;
    if (ocla_device_select(NULL, &def) == OCLA_SUCCESS) printf("default device: %zu (OCLA_DEVICE overrides)\n", def);
    return 0;
}
