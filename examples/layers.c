/* layers: run each attention op of <ocla/layers.h> once on the chosen device (argv[1] or OCLA_DEVICE)
 * and print its time: softmax (causal), FLASH mixed chunk (causal, C = 256), Linformer (k = 64).
 * (The full [B,T,d_model] layers of issue 4 are not written yet; this runs the ops under them.) */
#include <ocla/ocla.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { B = 1, T = 1024, H = 4, D = 64, KP = 64 };

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    ocla_context_options opts;
    ocla_context_options_defaults(&opts);
    opts.device = argc > 1 ? argv[1] : NULL;
    ocla_context *ctx = NULL;
    if (ocla_context_create(&opts, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "no context: %s\n", ocla_last_error(NULL));
        return 1;
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    printf("device: %s\n", info.device_name);
    const int64_t dx[4] = {B, T, H, D}, de[2] = {KP, T};
    ocla_tensor *x = NULL, *o = NULL, *E = NULL;
    int rc = 1;
    float *host = malloc((size_t)B * T * H * D * sizeof *host);
    if (!host || ocla_tensor_create(ctx, OCLA_F32, 4, dx, &x) || ocla_tensor_create(ctx, OCLA_F32, 4, dx, &o) ||
        ocla_tensor_create(ctx, OCLA_F32, 2, de, &E))
        goto done;
    for (size_t i = 0; i < (size_t)B * T * H * D; i++) host[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    if (ocla_tensor_upload(ctx, x, host, (size_t)B * T * H * D * sizeof *host) || ocla_tensor_fill(ctx, E, 1.0f / T))
        goto done;
    for (int op = 0; op < 3; op++) {
        ocla_status st = OCLA_SUCCESS;
        double best = 1e30;
        for (int rep = 0; rep < 3 && st == OCLA_SUCCESS; rep++) { /* the first run builds the kernels */
            double t0 = now();
            if (op == 0) {
                ocla_softmax_params p;
                ocla_softmax_params_defaults(&p);
                st = ocla_softmax_attention(ctx, &p, x, x, x, o);
            } else if (op == 1) {
                ocla_flash_params p;
                ocla_flash_params_defaults(&p);
                ocla_flash_io io = {x, x, x, x, x, o};
                st = ocla_flash_attention(ctx, &p, &io);
            } else {
                ocla_linformer_params p;
                ocla_linformer_params_defaults(&p);
                ocla_linformer_io io = {x, x, x, E, E, o};
                st = ocla_linformer_attention(ctx, &p, &io);
            }
            if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
            if (now() - t0 < best) best = now() - t0;
        }
        static const char *names[] = {"softmax (causal)", "FLASH (causal, C=256)", "Linformer (k=64)"};
        if (st != OCLA_SUCCESS) {
            fprintf(stderr, "%s: %s: %s\n", names[op], ocla_status_string(st), ocla_last_error(ctx));
            goto done;
        }
        printf("%-24s B%d T%d H%d D%d: %8.2f ms\n", names[op], B, T, H, D, 1e3 * best);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "failed: %s\n", ocla_last_error(ctx));
    free(host);
    ocla_tensor_destroy(x), ocla_tensor_destroy(o), ocla_tensor_destroy(E);
    ocla_context_destroy(ctx);
    return rc;
}
