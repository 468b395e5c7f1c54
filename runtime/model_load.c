/* SPDX-License-Identifier: MIT */
/* ocla_model_open: a GLAForCausalLM checkpoint directory (include/ocla/model.h, docs/MODELS.md).
 *   1. config.json -> ocla_gla_config (model_config.c);
 *   2. the safetensors files: model.safetensors, else the shards that model.safetensors.index.json
 *      lists; each file's header parsed and checked (safetensors.c), each tensor checked against the
 *      index (the shard it names, once across the shards);
 *   3. the tensors checked against the config (model_tensors.c): none missing, none extra, shapes;
 *   4. the data read in file order through one buffer and converted to fp32.
 * Files are read with stdio only, front to back (no seek past the header). */
#if OCLA_HAVE_JANSSON
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define FAIL(st, ...) ocla__fail(NULL, (st), __VA_ARGS__)
#define CONFIG_MAX (1u << 20)  /* config.json: 1 MiB at most */
#define INDEX_MAX (64u << 20)  /* model.safetensors.index.json: 64 MiB at most */
#define READ_CHUNK (1u << 20)  /* tensor data goes through a buffer of this many bytes */

typedef struct entry {
    char *name;
    int ndim;
    int64_t dims[OCLA_MAX_DIMS];
    uint64_t numel;
    ocla_model_dtype dtype;
    uint64_t begin, end;
    size_t file; /* index into ocla_model.files */
    float *data;
    int expected; /* called for by the config */
} entry;

struct ocla_model {
    ocla_gla_config config;
    entry *t; /* sorted by name once every file is read */
    size_t n, cap;
    char **files; /* paths of the safetensors files */
    uint64_t *header_len;
    size_t n_files;
};

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* A whole small file into a malloc'd buffer (limit bytes at most). */
static ocla_status read_text(const char *path, size_t limit, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: cannot be opened", path);
    char *buf = malloc(limit + 1);
    if (!buf) {
        fclose(f);
        return FAIL(OCLA_ERR_OUT_OF_MEMORY, "%s: no memory to read it", path);
    }
    size_t n = fread(buf, 1, limit + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n > limit) {
        free(buf);
        return err ? FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: read error", path)
                   : FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: larger than %zu bytes", path, limit);
    }
    *text = buf;
    *len = n;
    return OCLA_SUCCESS;
}

static ocla_status add_file(ocla_model *m, const char *dir, const char *name) {
    char **f = realloc(m->files, (m->n_files + 1) * sizeof *f);
    if (f) m->files = f;
    uint64_t *h = realloc(m->header_len, (m->n_files + 1) * sizeof *h);
    if (h) m->header_len = h;
    if (!f || !h || !(m->files[m->n_files] = join(dir, name)))
        return FAIL(OCLA_ERR_OUT_OF_MEMORY, "no memory for the file list");
    m->header_len[m->n_files++] = 0;
    return OCLA_SUCCESS;
}

/* The shard names of an index: weight_map values, each a plain file name in the directory. */
static ocla_status read_index(ocla_model *m, const char *dir, const char *path, json_t **weight_map) {
    char *text;
    size_t len;
    ocla_status st = read_text(path, INDEX_MAX, &text, &len);
    if (st != OCLA_SUCCESS) return st;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: not valid JSON: %s (line %d, column %d)", path, jerr.text,
                    jerr.line, jerr.column);
    json_t *map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    const char *key;
    json_t *v;
    if (!json_is_object(map)) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: weight_map missing or not an object", path);
        goto done;
    }
    json_object_foreach(root, key, v) {
        if (strcmp(key, "weight_map") && strcmp(key, "metadata")) {
            st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: unknown field '%s'", path, key);
            goto done;
        }
    }
    json_object_foreach(map, key, v) {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !*s || s[0] == '.' || strchr(s, '/') || strchr(s, '\\')) {
            st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: weight_map '%s': not a file name in the checkpoint's directory",
                      path, key);
            goto done;
        }
        size_t i = 0;
        while (i < m->n_files && strcmp(strrchr(m->files[i], '/') + 1, s)) i++;
        if (i == m->n_files && (st = add_file(m, dir, s)) != OCLA_SUCCESS) goto done;
    }
    if (!m->n_files) st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: weight_map is empty", path);
done:
    if (st == OCLA_SUCCESS) *weight_map = json_incref(map);
    json_decref(root);
    return st;
}

/* One file's header: its tensors appended to m (data not read yet). */
static ocla_status read_header(ocla_model *m, size_t fi) {
    const char *path = m->files[fi];
    FILE *f = fopen(path, "rb");
    if (!f) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: cannot be opened", path);
    uint8_t prefix[OCLA__ST_PREFIX];
    size_t got = fread(prefix, 1, sizeof prefix, f);
    uint64_t n = 0;
    ocla_status st;
    char *json = NULL;
    ocla__st_header h = {0};
    if (got < sizeof prefix) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: truncated: %zu bytes, shorter than the 8-byte header length", path,
                  got);
        goto done;
    }
    /* the file's size where stdio can tell it (a long: not past 2 GiB on Windows), else the data
     * is checked as it is read (read_data) */
    uint64_t size = UINT64_MAX;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end >= 0) size = (uint64_t)end;
    }
    if (fseek(f, OCLA__ST_PREFIX, SEEK_SET) != 0) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: cannot seek in the file", path);
        goto done;
    }
    if ((st = ocla__st_header_length(prefix, size, path, &n)) != OCLA_SUCCESS) goto done;
    if (!(json = malloc((size_t)n))) {
        st = FAIL(OCLA_ERR_OUT_OF_MEMORY, "%s: no memory for a header of %llu bytes", path, (unsigned long long)n);
        goto done;
    }
    if ((got = fread(json, 1, (size_t)n, f)) < n) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: header length %llu past the end of the file (%zu bytes)", path,
                  (unsigned long long)n, got + OCLA__ST_PREFIX);
        goto done;
    }
    if ((st = ocla__st_parse_header(json, (size_t)n, path, &h)) != OCLA_SUCCESS) goto done;
    if (size != UINT64_MAX &&
        (st = ocla__st_check_data_size(&h, size - OCLA__ST_PREFIX - n, path)) != OCLA_SUCCESS)
        goto done;
    if (m->n + h.n > m->cap) {
        size_t cap = (m->n + h.n) * 2;
        entry *t = realloc(m->t, cap * sizeof *t);
        if (!t) {
            st = FAIL(OCLA_ERR_OUT_OF_MEMORY, "%s: no memory for %zu tensors", path, m->n + h.n);
            goto done;
        }
        m->t = t, m->cap = cap;
    }
    for (size_t i = 0; i < h.n; i++) {
        const ocla__st_tensor *s = &h.tensors[i];
        entry *e = &m->t[m->n++];
        memset(e, 0, sizeof *e);
        e->name = s->name; /* moved from the header */
        h.tensors[i].name = NULL;
        e->ndim = s->ndim;
        memcpy(e->dims, s->dims, sizeof e->dims);
        e->numel = s->numel, e->dtype = s->dtype, e->begin = s->begin, e->end = s->end, e->file = fi;
    }
    m->header_len[fi] = n;
done:
    ocla__st_header_free(&h);
    free(json);
    fclose(f);
    return st;
}

static int by_name(const void *a, const void *b) { return strcmp(((const entry *)a)->name, ((const entry *)b)->name); }

static entry *find(const ocla_model *m, const char *name) {
    entry key = {.name = (char *)(uintptr_t)name};
    return m->n ? bsearch(&key, m->t, m->n, sizeof *m->t, by_name) : NULL;
}

static const char *file_of(const ocla_model *m, const entry *e) { return m->files[e->file]; }

/* Every tensor sits in the shard the index names, and in one file only. */
static ocla_status check_index(ocla_model *m, json_t *weight_map, const char *index_path) {
    for (size_t i = 1; i < m->n; i++)
        if (!strcmp(m->t[i - 1].name, m->t[i].name))
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "tensor '%s' is in two files: %s and %s", m->t[i].name,
                        file_of(m, &m->t[i - 1]), file_of(m, &m->t[i]));
    if (!weight_map) return OCLA_SUCCESS;
    for (size_t i = 0; i < m->n; i++) {
        json_t *v = json_object_get(weight_map, m->t[i].name);
        const char *path = file_of(m, &m->t[i]);
        if (!v)
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s' is not in %s's weight_map", path, m->t[i].name,
                        index_path);
        if (strcmp(json_string_value(v), strrchr(path, '/') + 1))
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': %s's weight_map puts it in %s", path,
                        m->t[i].name, index_path, json_string_value(v));
    }
    const char *key;
    json_t *v;
    json_object_foreach(weight_map, key, v) {
        if (!find(m, key))
            return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: weight_map puts tensor '%s' in %s, which does not hold it",
                        index_path, key, json_string_value(v));
    }
    return OCLA_SUCCESS;
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *dims) {
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < ndim && at < size; k++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", k ? ", " : "", (long long)dims[k]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* The tensors the config calls for: present (but a tied head), with their shapes; nothing else. */
static ocla_status check_against_config(ocla_model *m) {
    ocla__expected_tensor *x;
    size_t nx;
    ocla_status st = ocla__gla_expected_tensors(&m->config, &x, &nx);
    if (st != OCLA_SUCCESS) return st;
    for (size_t i = 0; i < nx && st == OCLA_SUCCESS; i++) {
        entry *e = find(m, x[i].name);
        if (!e) {
            if (!x[i].optional)
                st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "tensor '%s' missing: the config calls for it", x[i].name);
            continue;
        }
        e->expected = 1;
        int same = e->ndim == x[i].ndim;
        for (int k = 0; same && k < e->ndim; k++) same = e->dims[k] == x[i].dims[k];
        if (!same) {
            char has[96], want[96];
            format_shape(has, sizeof has, e->ndim, e->dims);
            format_shape(want, sizeof want, x[i].ndim, x[i].dims);
            st = FAIL(OCLA_ERR_SHAPE, "%s: tensor '%s' has shape %s, the config gives %s", file_of(m, e), e->name,
                      has, want);
        }
    }
    free(x);
    for (size_t i = 0; i < m->n && st == OCLA_SUCCESS; i++)
        if (!m->t[i].expected)
            st = FAIL(OCLA_ERR_UNSUPPORTED, "%s: tensor '%s' is not part of a GLAForCausalLM with this config",
                      file_of(m, &m->t[i]), m->t[i].name);
    return st;
}

static int by_offset(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Stream one file's data, front to back, into its tensors (fp32). */
static ocla_status read_data(ocla_model *m, size_t fi, entry **order, uint8_t *buf) {
    const char *path = m->files[fi];
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->t[i].file == fi) order[k++] = &m->t[i];
    qsort(order, k, sizeof *order, by_offset);
    FILE *f = fopen(path, "rb");
    if (!f) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: cannot be opened", path);
    ocla_status st = OCLA_SUCCESS;
    if (fseek(f, (long)(OCLA__ST_PREFIX + m->header_len[fi]), SEEK_SET) != 0) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: cannot seek past the header", path);
        goto done;
    }
    for (size_t i = 0; i < k && st == OCLA_SUCCESS; i++) {
        entry *e = order[i];
        const size_t es = ocla__st_dtype_size(e->dtype);
        if (!(e->data = malloc(e->numel ? (size_t)e->numel * sizeof(float) : sizeof(float)))) {
            st = FAIL(OCLA_ERR_OUT_OF_MEMORY, "%s: no memory for tensor '%s' (%llu values)", path, e->name,
                      (unsigned long long)e->numel);
            break;
        }
        for (uint64_t done_n = 0; done_n < e->numel;) {
            size_t count = (size_t)(e->numel - done_n < READ_CHUNK / 4 ? e->numel - done_n : READ_CHUNK / 4);
            size_t got = fread(buf, es, count, f);
            if (got < count) {
                st = FAIL(OCLA_ERR_INVALID_ARGUMENT,
                          "%s: truncated: tensor '%s' needs data bytes [%llu, %llu), the file ends before byte %llu",
                          path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)(e->begin + (done_n + got) * es + es));
                break;
            }
            ocla__st_to_f32(e->dtype, buf, count, e->data + done_n);
            done_n += count;
        }
    }
    if (st == OCLA_SUCCESS && fgetc(f) != EOF)
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: bytes past the last tensor (the tensors hold %llu bytes of data)",
                  path, (unsigned long long)(k ? order[k - 1]->end : 0));
done:
    fclose(f);
    return st;
}

/* A tied head stored in the file must be the embedding matrix itself. */
static ocla_status check_tied_head(const ocla_model *m) {
    const entry *head = find(m, "lm_head.weight"), *emb = find(m, "model.embeddings.weight");
    if (!m->config.tie_word_embeddings || !head || !emb) return OCLA_SUCCESS;
    if (memcmp(head->data, emb->data, (size_t)head->numel * sizeof(float)))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT,
                    "%s: lm_head.weight differs from model.embeddings.weight while tie_word_embeddings is true",
                    file_of(m, head));
    return OCLA_SUCCESS;
}

static ocla_status load(ocla_model *m, const char *dir) {
    char *path = join(dir, "config.json"), *text = NULL;
    size_t len;
    if (!path) return FAIL(OCLA_ERR_OUT_OF_MEMORY, "no memory for a path");
    ocla_status st = read_text(path, CONFIG_MAX, &text, &len);
    if (st == OCLA_SUCCESS) st = ocla__gla_config_parse(text, len, path, &m->config);
    free(text);
    free(path);
    if (st != OCLA_SUCCESS) return st;

    json_t *weight_map = NULL;
    char *index = NULL;
    if ((st = add_file(m, dir, "model.safetensors")) != OCLA_SUCCESS) return st;
    FILE *single = fopen(m->files[0], "rb");
    if (single)
        fclose(single);
    else {
        free(m->files[0]);
        m->n_files = 0;
        if (!(index = join(dir, "model.safetensors.index.json")))
            return FAIL(OCLA_ERR_OUT_OF_MEMORY, "no memory for a path");
        st = read_index(m, dir, index, &weight_map);
        if (st != OCLA_SUCCESS)
            ocla__error_append(NULL, " (no model.safetensors either)");
    }
    for (size_t i = 0; st == OCLA_SUCCESS && i < m->n_files; i++) st = read_header(m, i);
    if (st == OCLA_SUCCESS) {
        if (m->n) qsort(m->t, m->n, sizeof *m->t, by_name);
        st = check_index(m, weight_map, index);
    }
    json_decref(weight_map);
    free(index);
    if (st == OCLA_SUCCESS) st = check_against_config(m);
    if (st == OCLA_SUCCESS) {
        entry **order = malloc((m->n ? m->n : 1) * sizeof *order);
        uint8_t *buf = malloc(READ_CHUNK);
        if (!order || !buf) st = FAIL(OCLA_ERR_OUT_OF_MEMORY, "no memory for the read buffer");
        for (size_t i = 0; st == OCLA_SUCCESS && i < m->n_files; i++) st = read_data(m, i, order, buf);
        free(order);
        free(buf);
    }
    if (st == OCLA_SUCCESS) st = check_tied_head(m);
    return st;
}

ocla_status ocla_model_open(const char *dir, ocla_model **out) {
    if (!out) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "ocla_model_open: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "ocla_model_open: dir is NULL or empty");
    ocla_model *m = calloc(1, sizeof *m);
    if (!m) return FAIL(OCLA_ERR_OUT_OF_MEMORY, "ocla_model_open: no memory");
    const ocla_status st = load(m, dir);
    if (st == OCLA_SUCCESS)
        *out = m;
    else
        ocla_model_free(m);
    return st;
}

void ocla_model_free(ocla_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->t[i].name);
        free(m->t[i].data);
    }
    for (size_t i = 0; i < m->n_files; i++) free(m->files[i]);
    free(m->t);
    free(m->files);
    free(m->header_len);
    free(m);
}

const ocla_gla_config *ocla_model_config(const ocla_model *m) { return m ? &m->config : NULL; }

size_t ocla_model_tensor_count(const ocla_model *m) { return m ? m->n : 0; }

static void describe(const entry *e, ocla_model_tensor *t) {
    memset(t, 0, sizeof *t);
    t->name = e->name;
    t->ndim = e->ndim;
    memcpy(t->dims, e->dims, sizeof t->dims);
    t->numel = (int64_t)e->numel;
    t->stored_dtype = e->dtype;
    t->data = e->data;
}

ocla_status ocla_model_tensor_at(const ocla_model *m, size_t index, ocla_model_tensor *t) {
    if (!m || !t || index >= m->n)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "ocla_model_tensor_at: NULL argument or index %zu out of range", index);
    describe(&m->t[index], t);
    return OCLA_SUCCESS;
}

ocla_status ocla_model_tensor_get(const ocla_model *m, const char *name, ocla_model_tensor *t) {
    if (!m || !name || !t) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "ocla_model_tensor_get: NULL argument");
    const entry *e = find(m, name);
    if (!e) return FAIL(OCLA_ERR_INVALID_ARGUMENT, "ocla_model_tensor_get: no tensor '%s' in the checkpoint", name);
    describe(e, t);
    return OCLA_SUCCESS;
}

ocla_status ocla_model_tensor_upload(ocla_context *ctx, const ocla_model *m, const char *name, ocla_tensor **out) {
    if (out) *out = NULL;
    if (!ctx || !m || !name || !out)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_tensor_upload: NULL argument");
    const entry *e = find(m, name);
    if (!e) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_model_tensor_upload: no tensor '%s'", name);
    const int64_t one = 1;
    ocla_tensor *t;
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, e->ndim ? e->ndim : 1, e->ndim ? e->dims : &one, &t);
    if (st != OCLA_SUCCESS) return st;
    if ((st = ocla_tensor_upload(ctx, t, e->data, (size_t)e->numel * sizeof(float))) != OCLA_SUCCESS) {
        ocla_tensor_destroy(t);
        return st;
    }
    *out = t;
    return OCLA_SUCCESS;
}
#else
typedef int ocla__model_load_unused; /* built without jansson: runtime/model_unavailable.c */
#endif
