/* SPDX-License-Identifier: MIT */
/* ocla-generate: load a GLA language model checkpoint (fla's GLAForCausalLM: config.json +
 * safetensors) and generate token ids from a prompt of token ids; prints the generated ids and the
 * prefill and decode speeds (tokens/s, wall clock: the device work, the logits' download and the
 * host-side sampling).
 *
 *   ocla-generate MODEL_DIR [options] [ID ...]
 *     --file F           prompt ids from file F (whitespace or comma separated), after any given inline
 *     -n N               tokens to generate (default 32)
 *     --temperature T    0 (default) greedy; --top-k K, --top-p P, --seed S (sampling options)
 *     --stop ID          stop at this token (repeatable; default the config's eos_token_id)
 *     --no-stop          never stop early
 *     --batch B          B copies of the prompt decoded together (throughput: tokens/s over all B)
 *     --device SEL       device selector (else OCLA_DEVICE, else the first GPU)
 *     --no-warmup        time the first run too (it includes building the kernels)
 * Example: ocla-generate checkpoints/gla-tiny 1 15043 3186 -n 16
 * Token ids only: this example stays C (the library has no tokenizer). For text in and out through the
 * checkpoint's tokenizer.json, the Python binding's entry point does the same run:
 *   python -m ocla.generate --model checkpoints/gla-tiny --prompt "Once upon a time" -n 16
 * (docs/MODELS.md "Text and Python"). */
#include <ocla/ocla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_STOP = 16 };

typedef struct opts {
    const char *dir, *file, *device;
    int64_t n_new;
    int batch, warmup, n_stop, no_stop;
    int32_t stop[MAX_STOP];
    ocla_sampler_params sampling;
    int32_t *prompt;
    int64_t n_prompt, cap;
} opts;

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int push_id(opts *o, const char *word) {
    char *end;
    const long long v = strtoll(word, &end, 10);
    if (end == word || *end || v < 0 || v > INT32_MAX) {
        fprintf(stderr, "ocla-generate: '%s' is not a token id\n", word);
        return -1;
    }
    if (o->n_prompt == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        int32_t *p = realloc(o->prompt, (size_t)o->cap * sizeof *p);
        if (!p) return -1;
        o->prompt = p;
    }
    o->prompt[o->n_prompt++] = (int32_t)v;
    return 0;
}

static int read_file_ids(opts *o) {
    FILE *f = fopen(o->file, "r");
    if (!f) {
        fprintf(stderr, "ocla-generate: cannot open %s\n", o->file);
        return -1;
    }
    char word[64];
    int rc = 0;
    while (!rc && fscanf(f, " %63[^ \t\r\n,]", word) == 1) {
        rc = push_id(o, word);
        if (fscanf(f, " ,") < 0) break;
    }
    fclose(f);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: ocla-generate MODEL_DIR [--file F] [-n N] [--temperature T] [--top-k K] [--top-p P] "
                    "[--seed S] [--stop ID]... [--no-stop] [--batch B] [--device SEL] [--no-warmup] [ID ...]\n");
    return 2;
}

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.n_new = 32, .batch = 1, .warmup = 1};
    ocla_sampler_params_defaults(&o->sampling);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const int has = v != NULL;
        if (!strcmp(a, "--file") && has) o->file = argv[++i];
        else if (!strcmp(a, "-n") && has) o->n_new = atoll(argv[++i]);
        else if (!strcmp(a, "--temperature") && has) o->sampling.temperature = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-k") && has) o->sampling.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has) o->sampling.top_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--seed") && has) o->sampling.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--stop") && has && o->n_stop < MAX_STOP) o->stop[o->n_stop++] = atoi(argv[++i]);
        else if (!strcmp(a, "--no-stop")) o->no_stop = 1;
        else if (!strcmp(a, "--batch") && has) o->batch = atoi(argv[++i]);
        else if (!strcmp(a, "--device") && has) o->device = argv[++i];
        else if (!strcmp(a, "--no-warmup")) o->warmup = 0;
        else if (a[0] == '-') return usage();
        else if (!o->dir) o->dir = a;
        else if (push_id(o, a)) return 2;
    }
    if (!o->dir || o->n_new < 1 || o->batch < 1) return usage();
    if (o->file && read_file_ids(o)) return 2;
    if (o->n_prompt < 1) {
        fprintf(stderr, "ocla-generate: no prompt token ids (give them inline or with --file)\n");
        return 2;
    }
    return 0;
}

/* Batch decoding: prefill B copies, then n_new steps, each sequence sampled with the one sampler in
 * turn (no early stop). Prints the first sequence's ids and the speeds over all B. */
static ocla_status run_batch(ocla_model_session *s, ocla_sampler *smp, const opts *o, int print) {
    const int B = o->batch;
    const int64_t NV = ocla_model_session_vocab(s), T = o->n_prompt;
    int32_t *tok = malloc((size_t)(B * T) * sizeof *tok), *first = malloc((size_t)o->n_new * sizeof *first);
    float *logits = malloc((size_t)B * (size_t)NV * sizeof *logits);
    ocla_status st = tok && first && logits ? OCLA_SUCCESS : OCLA_ERR_OUT_OF_MEMORY;
    for (int b = 0; st == OCLA_SUCCESS && b < B; b++) memcpy(tok + b * T, o->prompt, (size_t)T * sizeof *tok);
    double t0 = now(), t_prefill = 0.0;
    if (st == OCLA_SUCCESS) st = ocla_model_reset(s);
    if (st == OCLA_SUCCESS) st = ocla_model_prefill(s, tok, T, OCLA_MODEL_LOGITS_LAST, logits);
    for (int64_t i = 0; st == OCLA_SUCCESS && i < o->n_new; i++) {
        for (int b = 0; st == OCLA_SUCCESS && b < B; b++) st = ocla_sampler_sample(smp, logits + b * NV, NV, &tok[b]);
        if (st != OCLA_SUCCESS) break;
        first[i] = tok[0];
        if (i == 0) t_prefill = now() - t0, t0 = now();
        if (i + 1 < o->n_new) st = ocla_model_step(s, tok, logits);
    }
    const double t_decode = now() - t0;
    if (st == OCLA_SUCCESS && print) {
        for (int64_t i = 0; i < o->n_new; i++) printf("%s%d", i ? " " : "", first[i]);
        printf("\nbatch %d: prefill %lld x %d tokens in %.4f s (%.1f tokens/s); decode %lld x %d tokens in %.4f s "
               "(%.1f tokens/s)\n",
               B, (long long)T, B, t_prefill, (double)(T * B) / t_prefill, (long long)(o->n_new - 1), B, t_decode,
               o->n_new > 1 ? (double)((o->n_new - 1) * B) / t_decode : 0.0);
    }
    free(tok), free(first), free(logits);
    return st;
}

static ocla_status run_one(ocla_model_session *s, ocla_sampler *smp, const opts *o, int print) {
    int32_t *out = malloc((size_t)o->n_new * sizeof *out);
    if (!out) return OCLA_ERR_OUT_OF_MEMORY;
    int64_t n = 0;
    ocla_generate_stats gs;
    ocla_status st = ocla_model_reset(s);
    if (st == OCLA_SUCCESS)
        st = ocla_model_generate(s, smp, o->prompt, o->n_prompt, o->n_new, o->stop, o->no_stop ? 0 : o->n_stop, out, &n,
                                 &gs);
    if (st == OCLA_SUCCESS && print) {
        for (int64_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", out[i]);
        printf("\nprefill %lld tokens in %.4f s (%.1f tokens/s); decode %lld tokens in %.4f s (%.1f tokens/s)\n",
               (long long)gs.prompt_tokens, gs.prefill_seconds, (double)gs.prompt_tokens / gs.prefill_seconds,
               (long long)(gs.generated_tokens - 1), gs.decode_seconds,
               gs.generated_tokens > 1 ? (double)(gs.generated_tokens - 1) / gs.decode_seconds : 0.0);
    }
    free(out);
    return st;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    ocla_model *model = NULL;
    ocla_context *ctx = NULL;
    ocla_model_session *s = NULL;
    ocla_sampler *smp = NULL;
    ocla_context_options copt;
    ocla_context_options_defaults(&copt);
    copt.device = o.device;
    rc = 1;
    if (ocla_model_open(o.dir, &model) != OCLA_SUCCESS || ocla_context_create(&copt, &ctx) != OCLA_SUCCESS ||
        ocla_sampler_create(&o.sampling, &smp) != OCLA_SUCCESS) {
        fprintf(stderr, "ocla-generate: %s\n", ocla_last_error(NULL));
        goto done;
    }
    const ocla_gla_config *cfg = ocla_model_config(model);
    if (!o.n_stop && cfg->eos_token_id >= 0) o.stop[o.n_stop++] = (int32_t)cfg->eos_token_id;
    ocla_device_info info;
    if (ocla_context_device_info(ctx, &info) == OCLA_SUCCESS)
        fprintf(stderr, "ocla-generate: %s, %lld layers, d = %lld, vocab %lld, on %s\n", o.dir,
                (long long)cfg->num_hidden_layers, (long long)cfg->hidden_size, (long long)cfg->vocab_size, info.device_name);
    ocla_status st = ocla_model_session_create(ctx, model, o.batch, &s);
    ocla_model_free(model), model = NULL; /* the session holds the weights on the device */
    for (int pass = o.warmup ? 0 : 1; st == OCLA_SUCCESS && pass < 2; pass++) {
        if (pass == 0) { /* warm-up: builds the kernels, sizes the buffers; nothing printed */
            opts w = o;
            w.n_new = 2;
            st = o.batch > 1 ? run_batch(s, smp, &w, 0) : run_one(s, smp, &w, 0);
            ocla_sampler_free(smp), smp = NULL;
            if (st == OCLA_SUCCESS) st = ocla_sampler_create(&o.sampling, &smp); /* the seed's draws from the start */
            continue;
        }
        st = o.batch > 1 ? run_batch(s, smp, &o, 1) : run_one(s, smp, &o, 1);
    }
    if (st != OCLA_SUCCESS) { /* the session's errors are the context's; the sampler's, this thread's */
        const char *why = ocla_last_error(ctx);
        fprintf(stderr, "ocla-generate: %s: %s\n", ocla_status_string(st), why && *why ? why : ocla_last_error(NULL));
        goto done;
    }
    rc = 0;
done:
    ocla_sampler_free(smp);
    ocla_model_session_free(s);
    ocla_context_destroy(ctx);
    ocla_model_free(model);
    free(o.prompt);
    return rc;
}
