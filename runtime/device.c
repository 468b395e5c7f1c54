/* SPDX-License-Identifier: MIT */
/* Device enumeration, the limits the scheduler needs, vendor normalisation and selection. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "plan.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES_PER_PLATFORM 32

const char *ocla_vendor_name(ocla_vendor v) {
    switch (v) {
    case OCLA_VENDOR_NVIDIA: return "nvidia";
    case OCLA_VENDOR_AMD: return "amd";
    case OCLA_VENDOR_INTEL: return "intel";
    case OCLA_VENDOR_APPLE: return "apple";
    case OCLA_VENDOR_ARM: return "arm";
    case OCLA_VENDOR_QUALCOMM: return "qualcomm";
    case OCLA_VENDOR_POCL: return "pocl";
    case OCLA_VENDOR_MESA: return "mesa";
    default: return "unknown";
    }
}

static int icontains(const char *hay, const char *needle) {
    if (!hay || !needle || !*needle) return 0;
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* Mesa's OpenCL (rusticl, Clover): it reports "Mesa/X.org" as the vendor of every device it drives. */
static int is_mesa(const char *platform, const char *vendor) {
    return icontains(platform, "rusticl") || icontains(platform, "clover") || icontains(vendor, "mesa");
}

ocla_vendor ocla__normalise_vendor(const char *platform, const char *vendor, const char *name, int is_gpu) {
    /* The driver first: PoCL reports the host CPU's vendor (and an Intel vendor id even on AMD
     * hosts). OCLA_VENDOR_MESA is Mesa's CPU emulator llvmpipe, which the loop-limit workarounds are
     * about; a GPU under Mesa (radeonsi, iris) is named by its hardware like any other. Then GPU
     * vendors by vendor string and name. */
    if (icontains(platform, "portable computing language") || icontains(platform, "pocl")) return OCLA_VENDOR_POCL;
    if (is_mesa(platform, vendor) && (!is_gpu || icontains(name, "llvmpipe"))) return OCLA_VENDOR_MESA;
    if (icontains(vendor, "nvidia") || icontains(name, "nvidia")) return OCLA_VENDOR_NVIDIA;
    if (icontains(vendor, "advanced micro devices") || icontains(vendor, "amd") || icontains(name, "radeon") ||
        icontains(name, "gfx"))
        return OCLA_VENDOR_AMD;
    if (icontains(vendor, "intel") || icontains(name, "intel")) return OCLA_VENDOR_INTEL;
    if (icontains(vendor, "apple")) return OCLA_VENDOR_APPLE;
    if (icontains(vendor, "arm") || icontains(name, "mali")) return OCLA_VENDOR_ARM;
    if (icontains(vendor, "qualcomm") || icontains(name, "adreno")) return OCLA_VENDOR_QUALCOMM;
    return OCLA_VENDOR_UNKNOWN;
}

/* rusticl 22.x-23.x returns 0 for CL_PROFILING_COMMAND_START/END on llvmpipe (measured): its events
 * are not trusted. A GPU under Mesa (radeonsi, iris) is not llvmpipe and keeps them, as every other
 * device; the runtime also detects zero timestamps at run time (launch.c), on any device. */
int ocla__profiling_trusted(ocla_vendor vendor) { return vendor != OCLA_VENDOR_MESA; }

/* A string property of a platform or device (get: clGetPlatformInfo or clGetDeviceInfo) into the char
 * array out; "" when unavailable. */
#define INFO_STR(get, obj, prop, out)                                          \
    do {                                                                       \
        if (get(obj, prop, sizeof(out), out, NULL) != CL_SUCCESS) out[0] = 0; \
        out[sizeof(out) - 1] = 0;                                              \
    } while (0)

/* A numeric device property of `size` bytes (cl_uint, size_t or cl_ulong); 0 when unavailable. */
static uint64_t info_num(cl_device_id d, cl_device_info p, size_t size) {
    union {
        cl_uint u32;
        size_t sz;
        cl_ulong u64;
    } v = {0};
    if (clGetDeviceInfo(d, p, size, &v, NULL) != CL_SUCCESS) return 0;
    return size == sizeof(cl_uint) ? v.u32 : size == sizeof(size_t) ? (uint64_t)v.sz : v.u64;
}
#define info_u64(d, p) info_num(d, p, sizeof(cl_ulong))
#define info_size(d, p) info_num(d, p, sizeof(size_t))
#define info_u32(d, p) (uint32_t) info_num(d, p, sizeof(cl_uint))

ocla_status ocla__device_query(cl_platform_id platform, cl_device_id device, ocla_device_info *info) {
    memset(info, 0, sizeof *info);
    info->platform_index = info->device_index = info->global_index = -1;
    INFO_STR(clGetPlatformInfo, platform, CL_PLATFORM_NAME, info->platform_name);
    INFO_STR(clGetPlatformInfo, platform, CL_PLATFORM_VERSION, info->platform_version);
    cl_device_type type = 0;
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(NULL, err, "clGetDeviceInfo(CL_DEVICE_TYPE)", "querying a device");
    INFO_STR(clGetDeviceInfo, device, CL_DEVICE_NAME, info->device_name);
    INFO_STR(clGetDeviceInfo, device, CL_DEVICE_VENDOR, info->device_vendor);
    INFO_STR(clGetDeviceInfo, device, CL_DEVICE_VERSION, info->device_version);
    INFO_STR(clGetDeviceInfo, device, CL_DRIVER_VERSION, info->driver_version);
    INFO_STR(clGetDeviceInfo, device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    info->local_mem_size = info_u64(device, CL_DEVICE_LOCAL_MEM_SIZE);
    info->max_work_group_size = info_size(device, CL_DEVICE_MAX_WORK_GROUP_SIZE);
    cl_uint dims = info_u32(device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS);
    size_t *items = dims ? calloc(dims, sizeof *items) : NULL; /* the first three are kept */
    if (items &&
        clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims * sizeof *items, items, NULL) == CL_SUCCESS)
        for (cl_uint i = 0; i < dims && i < 3; i++) info->max_work_item_sizes[i] = items[i];
    free(items);
    info->compute_units = info_u32(device, CL_DEVICE_MAX_COMPUTE_UNITS);
    info->max_alloc_size = info_u64(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    info->global_mem_size = info_u64(device, CL_DEVICE_GLOBAL_MEM_SIZE);

    size_t ext_size = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_size) == CL_SUCCESS && ext_size > 0) {
        char *ext = malloc(ext_size + 1);
        if (ext && clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, ext_size, ext, NULL) == CL_SUCCESS) {
            ext[ext_size] = 0;
            info->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            info->has_fp64 = strstr(ext, "cl_khr_fp64") != NULL || strstr(ext, "cl_amd_fp64") != NULL;
            info->has_subgroups = strstr(ext, "cl_khr_subgroups") != NULL || strstr(ext, "cl_intel_subgroups") != NULL;
        }
        free(ext);
    }
    info->vendor = ocla__normalise_vendor(info->platform_name, info->device_vendor, info->device_name, info->is_gpu);
    /* the hardware wave width, from the scheduler's parameter table (runtime/plan_params.c) */
    info->preferred_wg_multiple = ocla__plan_params_find(info->vendor, info->is_gpu, info->device_name)->wave;
    info->profiling_works = ocla__profiling_trusted(info->vendor);
    return OCLA_SUCCESS;
}

/* Flat list of every (platform, device). */
typedef struct dev_list {
    size_t n;
    ocla_device_handle h[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
    int pidx[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
    int didx[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
} dev_list;

static ocla_status enumerate(dev_list *list) {
    list->n = 0;
    cl_uint np = 0;
    cl_platform_id plats[MAX_PLATFORMS];
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0)) return OCLA_SUCCESS;
    if (err != CL_SUCCESS) return ocla__cl_fail(NULL, err, "clGetPlatformIDs", "enumerating platforms");
    if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        cl_device_id devs[MAX_DEVICES_PER_PLATFORM];
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES_PER_PLATFORM, devs, &nd);
        if (err != CL_SUCCESS) continue; /* CL_DEVICE_NOT_FOUND: an empty platform (rusticl without devices) */
        if (nd > MAX_DEVICES_PER_PLATFORM) nd = MAX_DEVICES_PER_PLATFORM;
        for (cl_uint d = 0; d < nd; d++) {
            list->h[list->n].platform = plats[p];
            list->h[list->n].device = devs[d];
            list->pidx[list->n] = (int)p;
            list->didx[list->n] = (int)d;
            list->n++;
        }
    }
    return OCLA_SUCCESS;
}

ocla_status ocla_device_count(size_t *count) {
    if (!count) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_device_count: count is NULL");
    dev_list *list = malloc(sizeof *list);
    if (!list) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "ocla_device_count: out of host memory");
    ocla_status st = enumerate(list);
    *count = st == OCLA_SUCCESS ? list->n : 0;
    free(list);
    return st;
}

static ocla_status fill_info(const dev_list *list, size_t i, ocla_device_info *info) {
    ocla_status st = ocla__device_query(list->h[i].platform, list->h[i].device, info);
    if (st != OCLA_SUCCESS) return st;
    info->platform_index = list->pidx[i];
    info->device_index = list->didx[i];
    info->global_index = (int)i;
    return OCLA_SUCCESS;
}

ocla_status ocla_device_get_info(size_t index, ocla_device_info *info) {
    if (!info) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_device_get_info: info is NULL");
    dev_list *list = malloc(sizeof *list);
    if (!list) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "ocla_device_get_info: out of host memory");
    ocla_status st = enumerate(list);
    if (st == OCLA_SUCCESS && index >= list->n)
        st = ocla__fail(NULL, OCLA_ERR_NO_DEVICE, "device index %zu out of range: %zu OpenCL device(s) present", index,
                        list->n);
    if (st == OCLA_SUCCESS) st = fill_info(list, index, info);
    free(list);
    return st;
}

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* Does device info match a name selector ("gpu", "cpu", vendor, or a substring)? */
static int name_matches(const ocla_device_info *info, const char *sel) {
    if (!strcmp(sel, "gpu") || !strcmp(sel, "GPU")) return info->is_gpu;
    if (!strcmp(sel, "cpu") || !strcmp(sel, "CPU")) return info->is_cpu;
    return icontains(ocla_vendor_name(info->vendor), sel) || icontains(info->platform_name, sel) ||
           icontains(info->device_name, sel) || icontains(info->device_vendor, sel);
}

ocla_status ocla__device_resolve(ocla_context *ectx, const char *selector, size_t *index, ocla_device_handle *handle,
                                 ocla_device_info *info_out) {
    const char *from = "the selector";
    if (!selector || !*selector) {
        selector = ocla_getenv("OCLA_DEVICE");
        from = "OCLA_DEVICE";
    }
    dev_list *list = malloc(sizeof *list);
    if (!list) return ocla__fail(ectx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory selecting a device");
    ocla_status st = enumerate(list);
    char sel[256] = "gpu"; /* no selector: the first GPU, else the first device */
    if (st == OCLA_SUCCESS && list->n == 0)
        st = ocla__fail(ectx, OCLA_ERR_NO_DEVICE,
                        "no OpenCL device found (is an ICD installed? e.g. apt install pocl-opencl-icd; for Mesa "
                        "rusticl set RUSTICL_ENABLE=llvmpipe)");
    else if (st == OCLA_SUCCESS && selector && strlen(selector) >= sizeof sel)
        st = ocla__fail(ectx, OCLA_ERR_INVALID_ARGUMENT, "%s is too long (%zu characters, at most %zu)", from,
                        strlen(selector), sizeof sel - 1);
    if (st != OCLA_SUCCESS) goto done;
    if (selector) snprintf(sel, sizeof sel, "%s", selector);
    size_t pick = (size_t)-1;
    if (all_digits(sel)) { /* a global index */
        unsigned long v = strtoul(sel, NULL, 10);
        if (v < list->n) pick = v;
    } else { /* platform:device, name:N (the Nth device matching name) or name */
        char *colon = strchr(sel, ':');
        long nth = 0, platform = -1, seen = 0;
        if (colon && all_digits(colon + 1)) {
            *colon = 0;
            nth = strtol(colon + 1, NULL, 10);
            if (all_digits(sel)) platform = strtol(sel, NULL, 10);
        }
        ocla_device_info info;
        for (size_t i = 0; i < list->n && pick == (size_t)-1; i++)
            if (platform >= 0 ? list->pidx[i] == platform && list->didx[i] == nth
                              : fill_info(list, i, &info) == OCLA_SUCCESS && name_matches(&info, sel) && seen++ == nth)
                pick = i;
    }
    if (pick == (size_t)-1 && !selector) pick = 0;
    if (pick == (size_t)-1) {
        st = ocla__fail(ectx, OCLA_ERR_NO_DEVICE,
                        "device selector \"%s\" (from %s) matches none of the %zu OpenCL device(s); use an index, "
                        "platform:device, gpu, cpu, or part of a vendor/platform/device name (see ocla-info)",
                        selector, from, list->n);
        goto done;
    }
    if (index) *index = pick;
    if (handle) *handle = list->h[pick];
    if (info_out) st = fill_info(list, pick, info_out);
done:
    free(list);
    return st;
}

ocla_status ocla_device_select(const char *selector, size_t *index) {
    if (!index) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_device_select: index is NULL");
    return ocla__device_resolve(NULL, selector, index, NULL, NULL);
}
