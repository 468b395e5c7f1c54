/* SPDX-License-Identifier: MIT */
/* ocla: portable OpenCL runtime for linear-time attention.
 *
 * Core API: status codes, devices, contexts, tensors, BLAS, the scheduler (plans) and profiling.
 * The attention ops live in <ocla/attention.h> (linear attention, GLA), <ocla/layers.h> (FLASH,
 * Linformer, softmax, full layers) and <ocla/train.h> (backward passes); this header includes them.
 *
 * Conventions
 *  - Every fallible call returns ocla_status. ocla_status_string() names it; ocla_last_error(ctx)
 *    gives the detail (which argument and why, the failing OpenCL call and its error name, the
 *    build log, up to 16 KiB) of this thread's last failure on ctx: other threads sharing ctx do
 *    not overwrite it (where this thread's last failure was elsewhere, the context's last failure
 *    from any thread is given). ocla_last_error(NULL) gives the detail of this thread's last
 *    failure that had no context (device queries, context creation). The text stays valid until
 *    this thread's next ocla call.
 *  - The library never prints to stdout, never exits, never aborts. Messages go to the log
 *    callback of the context (default: warnings and errors to stderr, OCLA_LOG=quiet|info|debug).
 *  - Handles are opaque. Options structs have an *_defaults() initialiser; always call it first:
 *    it sets the struct's first field, size, which every call taking the struct checks (0, a size
 *    from a newer ocla or one below the first release is OCLA_ERR_INVALID_ARGUMENT), so fields
 *    added later keep their defaults for applications built earlier (docs/EMBEDDING.md).
 *  - Thread safety: a context serialises its own calls with an internal lock, so one context may
 *    be shared by threads; calls on different contexts run concurrently. Tensors belong to the
 *    context that made them; destroy a tensor before its context.
 */
#ifndef OCLA_OCLA_H
#define OCLA_OCLA_H

#include <stddef.h>
#include <stdint.h>

/* The OpenCL API version is the application's choice: ocla's headers use only OpenCL 1.0 types
 * (cl_context, cl_command_queue, cl_device_id, cl_mem), so any CL_TARGET_OPENCL_VERSION from 120 up
 * compiles. Where the application sets none, 300 is what the Khronos headers default to themselves
 * (defining it only silences their "not defined" message), so including ocla.h before or after
 * <CL/cl.h> changes nothing. The library itself is built against 1.2 (CL_TARGET_OPENCL_VERSION=120
 * on its compile line) and runs on OpenCL 1.2 devices. */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#ifdef __APPLE__
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif

/* OCLA_API: the mark of a public function. The shared library exports these only (it is built with
 * hidden visibility by default). OCLA_SHARED: linking the shared library (set by the CMake target
 * ocla::ocla; needed on Windows only, for __declspec(dllimport)). */
#if defined(OCLA_SHARED)
#if defined(_WIN32)
#if defined(OCLA_BUILD)
#define OCLA_API __declspec(dllexport)
#else
#define OCLA_API __declspec(dllimport)
#endif
#else
#define OCLA_API __attribute__((visibility("default")))
#endif
#else
#define OCLA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of these headers (the build reads the numbers from here: CMakeLists.txt). Compare with
 * ocla_version_number() to check that the library an application runs with is the one it was built
 * against; docs/EMBEDDING.md gives the ABI policy (what a version change may break). */
#define OCLA_VERSION_MAJOR 0
#define OCLA_VERSION_MINOR 4
#define OCLA_VERSION_PATCH 0
#define OCLA_MAKE_VERSION(major, minor, patch) ((major) * 10000 + (minor) * 100 + (patch))
#define OCLA_VERSION OCLA_MAKE_VERSION(OCLA_VERSION_MAJOR, OCLA_VERSION_MINOR, OCLA_VERSION_PATCH)
#define OCLA_STRINGIFY_(x) #x
#define OCLA_STRINGIFY(x) OCLA_STRINGIFY_(x)
#define OCLA_VERSION_STRING                                                                            \
    OCLA_STRINGIFY(OCLA_VERSION_MAJOR) "." OCLA_STRINGIFY(OCLA_VERSION_MINOR) "."                      \
    OCLA_STRINGIFY(OCLA_VERSION_PATCH)
/* The library's version at run time: "MAJOR.MINOR.PATCH", and as OCLA_MAKE_VERSION(MAJOR, MINOR, PATCH). */
OCLA_API const char *ocla_version(void);
OCLA_API int ocla_version_number(void);

/* ------------------------------------------------------------------------------------------ */
/* Status                                                                                       */
/* ------------------------------------------------------------------------------------------ */
typedef enum ocla_status {
    OCLA_SUCCESS = 0,
    OCLA_ERR_INVALID_ARGUMENT = 1, /* NULL handle or pointer, bad option value */
    OCLA_ERR_SHAPE = 2,            /* dims, strides or shapes that do not fit together */
    OCLA_ERR_OVERFLOW = 3,         /* a size computation overflows */
    OCLA_ERR_TOO_LARGE = 4,        /* beyond what the device allows (max alloc, local memory) */
    OCLA_ERR_NO_DEVICE = 5,        /* no OpenCL device, or the selector matches none */
    OCLA_ERR_OPENCL = 6,           /* an OpenCL call failed; detail names call and error */
    OCLA_ERR_BUILD = 7,            /* a kernel failed to build; detail holds the build log */
    OCLA_ERR_OUT_OF_MEMORY = 8,    /* host or device allocation failed */
    OCLA_ERR_UNSUPPORTED = 9,      /* valid request this device or build cannot run */
    OCLA_ERR_BLAS = 10,            /* CLBlast returned an error */
    OCLA_ERR_CACHE = 11,           /* program cache problem (only reported where asked for) */
    OCLA_ERR_DEVICE_LOST = 12,     /* the device went away or stopped answering */
    OCLA_ERR_INTERNAL = 13         /* a bug in ocla: please report it */
} ocla_status;

OCLA_API const char *ocla_status_string(ocla_status status);

/* ------------------------------------------------------------------------------------------ */
/* Devices                                                                                      */
/* ------------------------------------------------------------------------------------------ */
typedef enum ocla_vendor {
    OCLA_VENDOR_UNKNOWN = 0,
    OCLA_VENDOR_NVIDIA,
    OCLA_VENDOR_AMD,
    OCLA_VENDOR_INTEL,
    OCLA_VENDOR_APPLE,
    OCLA_VENDOR_ARM,
    OCLA_VENDOR_QUALCOMM,
    OCLA_VENDOR_POCL, /* PoCL CPU driver (reports the host CPU's vendor) */
    OCLA_VENDOR_MESA  /* Mesa's CPU emulator llvmpipe (rusticl / clover); a GPU under Mesa is its hardware vendor */
} ocla_vendor;

OCLA_API const char *ocla_vendor_name(ocla_vendor vendor);

typedef struct ocla_device_info {
    int platform_index; /* index among all platforms */
    int device_index;   /* index within its platform */
    int global_index;   /* index in ocla's flat device list (what "N" selects) */
    char platform_name[128];
    char platform_version[128];
    char device_name[128];
    char device_vendor[128];
    char device_version[128];
    char driver_version[128];
    char opencl_c_version[128];
    ocla_vendor vendor; /* normalised */
    int is_gpu, is_cpu;
    uint64_t local_mem_size;       /* bytes per work-group */
    uint64_t max_work_group_size;  /* device limit */
    uint64_t max_work_item_sizes[3];
    uint32_t compute_units;
    uint32_t preferred_wg_multiple; /* the wave width (the scheduler's parameter table); 0 if unknown */
    uint64_t max_alloc_size;
    uint64_t global_mem_size;
    int has_fp16, has_fp64, has_subgroups;
    int profiling_works; /* 0 where event timestamps are known to read 0 (rusticl's llvmpipe) */
} ocla_device_info;

/* Number of OpenCL devices on all platforms (0 is not an error). */
OCLA_API ocla_status ocla_device_count(size_t *count);
OCLA_API ocla_status ocla_device_get_info(size_t global_index, ocla_device_info *info);
/* Resolve a selector: "N" (global index), "P:D" (platform:device), "gpu", "cpu", or a
 * case-insensitive substring of vendor, platform or device name ("nvidia", "pocl", "rusticl").
 * NULL or "" means the OCLA_DEVICE environment variable, else the first GPU, else device 0. */
OCLA_API ocla_status ocla_device_select(const char *selector, size_t *global_index);

/* ------------------------------------------------------------------------------------------ */
/* Contexts                                                                                     */
/* ------------------------------------------------------------------------------------------ */
typedef struct ocla_context ocla_context;

typedef enum ocla_log_level {
    OCLA_LOG_ERROR = 0,
    OCLA_LOG_WARN = 1,
    OCLA_LOG_INFO = 2,
    OCLA_LOG_DEBUG = 3
} ocla_log_level;

typedef void (*ocla_log_fn)(ocla_log_level level, const char *message, void *user);

typedef enum ocla_cache_mode {
    OCLA_CACHE_AUTO = 0, /* on, except on drivers with their own cache (PoCL) */
    OCLA_CACHE_ON = 1,   /* always use ocla's disk cache */
    OCLA_CACHE_OFF = 2   /* never touch the disk */
} ocla_cache_mode;

typedef struct ocla_context_options {
    size_t size; /* sizeof this struct in the application's build: set by ocla_context_options_defaults() */
    const char *device;    /* selector, see ocla_device_select(); NULL = OCLA_DEVICE or default */
    const char *cache_dir; /* NULL = OCLA_CACHE_DIR, else $XDG_CACHE_HOME/ocla; "off" disables */
    ocla_cache_mode cache_mode;
    ocla_log_fn log;       /* NULL = stderr for level <= log_level */
    void *log_user;
    ocla_log_level log_level; /* default WARN, or OCLA_LOG */
    int profiling;         /* create the queue with profiling enabled (needed by ocla_profile_*) */
    int portable_kernels_only; /* never use vendor fast paths (also OCLA_PORTABLE=1) */
    int allow_tf32;        /* NVIDIA: plain TF32 tensor-core products (~2.5e-4 relative error, like
                              PyTorch's allow_tf32 and fla's fp32 default) instead of 3xTF32, which
                              keeps fp32 accuracy (also OCLA_ALLOW_TF32=1) */
} ocla_context_options;

OCLA_API void ocla_context_options_defaults(ocla_context_options *options);
OCLA_API ocla_status ocla_context_create(const ocla_context_options *options, ocla_context **out);
/* Wrap an application's own OpenCL objects. ocla retains cl_ctx and queue (clRetainContext,
 * clRetainCommandQueue) and releases them in ocla_context_destroy, OpenCL's convention: the
 * application may release its own references at any time. The queue must be in-order. */
OCLA_API ocla_status ocla_context_wrap(cl_context cl_ctx, cl_device_id device, cl_command_queue queue,
                                       const ocla_context_options *options, ocla_context **out);
OCLA_API void ocla_context_destroy(ocla_context *ctx);
OCLA_API const char *ocla_last_error(const ocla_context *ctx);
OCLA_API ocla_status ocla_context_device_info(const ocla_context *ctx, ocla_device_info *info);
OCLA_API cl_command_queue ocla_context_queue(const ocla_context *ctx);
OCLA_API cl_context ocla_context_cl(const ocla_context *ctx);
/* Wait until every command ocla enqueued on this context has finished. */
OCLA_API ocla_status ocla_finish(ocla_context *ctx);

typedef struct ocla_cache_stats {
    uint64_t memory_hits;  /* program found in the context's memory cache */
    uint64_t disk_hits;    /* program loaded from a binary in the disk cache */
    uint64_t disk_rejects; /* cache files ignored: corrupt, truncated, foreign */
    uint64_t disk_writes;  /* binaries written */
    uint64_t builds;       /* builds from source */
    int disk_enabled;      /* the disk cache is in use for this context */
} ocla_cache_stats;
OCLA_API ocla_status ocla_cache_get_stats(const ocla_context *ctx, ocla_cache_stats *stats);
/* Build and run a tiny kernel and check its result: can ocla build and run kernels here? On
 * failure the status says why (OCLA_ERR_BUILD with the log, OCLA_ERR_OPENCL, ...). */
OCLA_API ocla_status ocla_selftest(ocla_context *ctx, double *build_seconds);
/* Build (or load) the programs of every op so later calls start at once; reports how long. */
OCLA_API ocla_status ocla_warmup(ocla_context *ctx, double *seconds);

/* Profiling: device time summed over every kernel and GEMM ocla enqueued between begin and end
 * (OpenCL events; host wall clock around the work where the driver's events read 0). */
OCLA_API ocla_status ocla_profile_begin(ocla_context *ctx);
OCLA_API ocla_status ocla_profile_end(ocla_context *ctx, double *milliseconds, int *kernels);
/* After ocla_profile_end: device time per kernel name, "name 0.1234 ms; ..." (where the driver's
 * events read 0, as on rusticl, each command's host time instead: from the previous command's
 * wait to its own, enqueue included; needs a profiling context, as the event times do). */
OCLA_API ocla_status ocla_profile_detail(const ocla_context *ctx, char *text, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                      */
/* ------------------------------------------------------------------------------------------ */
/* Element types. Half-precision tensors (bf16, fp16) store inputs and outputs; states,
 * cumulative log gates, normalisers and accumulation stay fp32 in every kernel (fla's rule). Which ops take
 * half tensors today: docs/ARCHITECTURE.md, "Half precision"; every other op refuses them with
 * OCLA_ERR_UNSUPPORTED, naming the tensor and its dtype. */
typedef enum ocla_dtype {
    OCLA_F32 = 0,
    OCLA_BF16 = 1, /* bfloat16: fp32's sign and 8 exponent bits, 7 mantissa bits */
    OCLA_F16 = 2   /* IEEE 754 binary16: 5 exponent bits, 10 mantissa bits, largest finite 65504 */
} ocla_dtype;

/* Bytes per element (4, 2, 2); 0 for a value that is no ocla_dtype. */
OCLA_API size_t ocla_dtype_size(ocla_dtype dtype);
/* "f32", "bf16", "f16"; "unknown" for a value that is no ocla_dtype. */
OCLA_API const char *ocla_dtype_name(ocla_dtype dtype);
/* Host conversions. fp32 -> bf16 and fp32 -> fp16 round to nearest, ties to even; a NaN stays a NaN
 * (quiet, sign kept); fp16 overflows to +-Inf from 65520 on (the values that round above 65504),
 * and fp16 subnormals (2^-24 .. 2^-14) are rounded exactly. Half -> fp32 is exact. */
OCLA_API uint16_t ocla_f32_to_bf16(float x);
OCLA_API float ocla_bf16_to_f32(uint16_t h);
OCLA_API uint16_t ocla_f32_to_f16(float x);
OCLA_API float ocla_f16_to_f32(uint16_t h);
/* n values between fp32 and dtype's storage (uint16_t for the half types; OCLA_F32 copies).
 * OCLA_ERR_INVALID_ARGUMENT for an unknown dtype or a NULL pointer with n > 0. */
OCLA_API ocla_status ocla_convert_from_f32(ocla_dtype dtype, const float *src, void *dst, size_t n);
OCLA_API ocla_status ocla_convert_to_f32(ocla_dtype dtype, const void *src, float *dst, size_t n);

#define OCLA_MAX_DIMS 4
typedef struct ocla_tensor ocla_tensor;

/* A new, contiguous (row-major) tensor of 1..4 dims, zero-initialised. */
OCLA_API ocla_status ocla_tensor_create(ocla_context *ctx, ocla_dtype dtype, int ndim, const int64_t *dims,
                                        ocla_tensor **out);
/* A view of an existing buffer: offset and strides in elements (strides NULL = contiguous). The
 * buffer is retained, never freed by ocla. Every element must lie inside the buffer. */
OCLA_API ocla_status ocla_tensor_wrap(ocla_context *ctx, cl_mem buffer, size_t offset, ocla_dtype dtype, int ndim,
                                      const int64_t *dims, const int64_t *strides, ocla_tensor **out);
/* A strided view of another tensor (shares its buffer; the parent must outlive it). */
OCLA_API ocla_status ocla_tensor_view(ocla_context *ctx, const ocla_tensor *parent, size_t offset, int ndim,
                                      const int64_t *dims, const int64_t *strides, ocla_tensor **out);
OCLA_API void ocla_tensor_destroy(ocla_tensor *tensor);
/* Copy between host memory and the tensor. Host data is dense in the tensor's logical row-major
 * order, in the tensor's dtype (uint16_t bit patterns for bf16 and fp16: ocla_convert_*); bytes must
 * equal the tensor's element count times the element size (ocla_dtype_size). Blocking. */
OCLA_API ocla_status ocla_tensor_upload(ocla_context *ctx, ocla_tensor *tensor, const void *host, size_t bytes);
OCLA_API ocla_status ocla_tensor_download(ocla_context *ctx, const ocla_tensor *tensor, void *host, size_t bytes);
/* Every element set to value (rounded to the tensor's dtype as ocla_convert_from_f32 does). */
OCLA_API ocla_status ocla_tensor_fill(ocla_context *ctx, ocla_tensor *tensor, float value);
OCLA_API ocla_dtype ocla_tensor_dtype(const ocla_tensor *tensor);
OCLA_API int ocla_tensor_ndim(const ocla_tensor *tensor);
OCLA_API int64_t ocla_tensor_dim(const ocla_tensor *tensor, int axis);
OCLA_API int64_t ocla_tensor_stride(const ocla_tensor *tensor, int axis);
OCLA_API int64_t ocla_tensor_numel(const ocla_tensor *tensor);
OCLA_API size_t ocla_tensor_offset(const ocla_tensor *tensor);
OCLA_API cl_mem ocla_tensor_buffer(const ocla_tensor *tensor);

/* ------------------------------------------------------------------------------------------ */
/* BLAS (CLBlast): C[i] = alpha * op(A[i]) op(B[i]) + beta * C[i], row-major, i < batch          */
/* ------------------------------------------------------------------------------------------ */
typedef struct ocla_gemm_desc {
    size_t size; /* sizeof this struct in the application's build: set by ocla_gemm_desc_defaults() */
    int trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    size_t batch;                      /* >= 1 */
    size_t a_offset, lda, stride_a;    /* elements, relative to the tensor's own offset */
    size_t b_offset, ldb, stride_b;
    size_t c_offset, ldc, stride_c;
} ocla_gemm_desc;
/* Fills lda/ldb/ldc (0 = dense) and strides (0 = dense, m*k etc.) for you. */
OCLA_API void ocla_gemm_desc_defaults(ocla_gemm_desc *desc);
OCLA_API ocla_status ocla_gemm(ocla_context *ctx, const ocla_gemm_desc *desc, const ocla_tensor *a,
                               const ocla_tensor *b, ocla_tensor *c);

/* ------------------------------------------------------------------------------------------ */
/* Scheduler                                                                                    */
/* ------------------------------------------------------------------------------------------ */
typedef enum ocla_op_kind {
    OCLA_OP_LINEAR_CHUNK = 0,  /* chunked linear attention (no gate; causal or not) */
    OCLA_OP_SIMPLE_GLA_CHUNK,  /* scalar or fixed decay per head */
    OCLA_OP_GLA_CHUNK,         /* per-key-dimension gates, sub-chunked */
    OCLA_OP_FLASH_CHUNK,       /* FLASH mixed chunk attention */
    OCLA_OP_SOFTMAX_TILED,     /* flash-style softmax attention */
    OCLA_OP_ATTN_RECURRENT,    /* recurrent (decode) form of linear attention, every gate kind */
    OCLA_OP_ATTN_BACKWARD,     /* chunked backward of linear attention, simple GLA and GLA */
    OCLA_OP_SOFTMAX_BACKWARD,  /* backward of the softmax attention (flash-style recomputation) */
    OCLA_OP_COUNT
} ocla_op_kind;

/* Kernel paths. The portable kernels exist on every device; a vendor path runs where the device
 * has it (capability, not name) and the request allows it. */
typedef enum ocla_path {
    OCLA_PATH_PORTABLE = 0,   /* OpenCL C 1.2 kernels, every device */
    OCLA_PATH_NVIDIA_MMA = 1, /* NVIDIA tensor cores through inline PTX mma.sync */
    /* A capability bit in ocla_plan_limits.paths, not a plan's path: the NVIDIA path's device also runs
     * Hopper's warpgroup products (wgmma, sm_90a: H100, H200), which the bf16 single pass then uses for
     * its scores (the plan's tile WG) */
    OCLA_PATH_NVIDIA_WGMMA = 2
} ocla_path;

/* What the plan function needs to know about a device: pure data, so tests can fake devices. */
typedef struct ocla_plan_limits {
    uint64_t local_mem_size;
    uint64_t max_work_group_size;
    uint64_t max_work_item_size0;
    uint64_t kernel_local_mem;     /* the kernel's own CL_KERNEL_LOCAL_MEM_SIZE (0 if unknown) */
    uint64_t kernel_wg_size;       /* CL_KERNEL_WORK_GROUP_SIZE (0 = device limit) */
    uint32_t compute_units;
    uint32_t simd_width;           /* lanes per hardware wave (warp, wavefront, sub-group); 0 = the table row's */
    int is_gpu;
    unsigned paths;                /* vendor paths the device runs: bit (1u << OCLA_PATH_*) */
    int allow_tf32;                /* NVIDIA path: one TF32 product instead of 3xTF32 */
    uint64_t max_alloc_size;       /* largest buffer (0 = unknown: no limit assumed) */
    /* The keys of the scheduler's vendor parameter table (docs/ARCHITECTURE.md, "Scheduler"): its row
     * gives the wave width where simd_width is 0, the largest tiles that do not spill there and the
     * local memory a compute unit shares among its work-groups. Zero / empty select the default
     * row, which plans as the scheduler did before the table existed. */
    ocla_vendor vendor; /* normalised vendor (ocla_device_info.vendor) */
    char arch[64];      /* the device name, where the table looks for the architecture ("gfx90a", "navi21") */
} ocla_plan_limits;

/* Request flags. */
#define OCLA_PLAN_NORMALIZE 1u  /* linear attention with the normaliser */
#define OCLA_PLAN_NONCAUSAL 2u  /* non-causal linear attention */
#define OCLA_PLAN_STRIDED 4u    /* tensors with buffer offsets or non-dense states: no vendor path */
#define OCLA_PLAN_PORTABLE 8u   /* portable kernels only */
#define OCLA_PLAN_SLOTS 16u     /* linear attention with state slots: portable kernels (no vendor path) */
#define OCLA_PLAN_VARLEN 32u    /* linear attention over packed sequences (causal chunked forms) */
/* Half precision (OCLA_OP_ATTN_RECURRENT only so far): q, k, v, o in bf16 or fp16, and the gates in
 * that dtype too with OCLA_PLAN_HALF_GATE (else fp32). */
#define OCLA_PLAN_BF16 64u
#define OCLA_PLAN_F16 128u
#define OCLA_PLAN_HALF_GATE 256u

typedef struct ocla_plan_request {
    ocla_op_kind op;
    int64_t B, T, H, K, V;
    int chunk;      /* 0 = choose; else forced (must be a candidate that fits) */
    unsigned flags; /* OCLA_PLAN_* */
    int gate;       /* ocla_gate_kind for OCLA_OP_ATTN_RECURRENT and OCLA_OP_ATTN_BACKWARD */
    int feature;    /* ocla_feature_map (kernel variant) */
} ocla_plan_request;

#define OCLA_PLAN_TILES 12
typedef struct ocla_plan {
    ocla_op_kind op;
    ocla_path path;  /* the kernels that run */
    int chunk;       /* C: tokens per chunk (query rows per work-group for softmax; 0 for recurrent) */
    int sub_chunk;   /* c: GLA secondary chunk (0 where unused) */
    int bk, bv;      /* key/value tile widths */
    int wg_x, wg_y;  /* work-group shape */
    int passes;      /* kernel launches */
    uint64_t local_bytes; /* local memory the plan needs */
    double cost;     /* model estimate, arbitrary units (lower is better) */
    int32_t tile[OCLA_PLAN_TILES]; /* every tile parameter of the kernels, in tile_names' order */
    char tile_names[96];           /* "CHUNK SUB GV ..." */
    char kernels[160];             /* the kernels that run, in launch order */
    char reason[256];
} ocla_plan;

/* The pure plan function: no device, no I/O. Returns OCLA_ERR_UNSUPPORTED when nothing fits. */
OCLA_API ocla_status ocla_plan_compute(const ocla_plan_limits *limits, const ocla_plan_request *request,
                                       ocla_plan *plan);
/* Candidate chunk sizes the scheduler may pick for this op on these limits (fits only). */
OCLA_API int ocla_plan_candidates(const ocla_plan_limits *limits, const ocla_plan_request *request, int *chunks,
                                  int max_chunks);
/* Plan for this context's device (its limits, vendor paths and OCLA_CHUNK) and explain it in one
 * line: path, kernels, tiles and why. This is the plan the op runs for this request. */
OCLA_API ocla_status ocla_plan_explain(ocla_context *ctx, const ocla_plan_request *request, ocla_plan *plan,
                                       char *text, size_t text_size);

#ifdef __cplusplus
}
#endif

#include "ocla/attention.h"
#include "ocla/softmax.h"
#include "ocla/flash.h"
#include "ocla/layers.h"
#include "ocla/blocks.h"
#include "ocla/train.h"
#include "ocla/model.h"

#endif /* OCLA_OCLA_H */
