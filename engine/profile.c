/* profile.c - reads MODEL.qdb.json with cJSON (see profile.h). */
#include "profile.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_import.h"

#define PROFILE_MAX_BYTES (1u << 20)

char *qdb_profile_path_for(const char *model_path)
{
    size_t n = strlen(model_path);
    size_t stem = n;
    if (n >= 5 && strcmp(model_path + n - 5, ".onnx") == 0)
        stem = n - 5;
    char *p = malloc(stem + sizeof ".qdb.json");
    if (p) {
        memcpy(p, model_path, stem);
        strcpy(p + stem, ".qdb.json");
    }
    return p;
}

/* A copy of `rel` with every comma-separated relative path resolved against
 * the directory of `base`; a dataset spec's "kind:" prefix is kept. */
static char *resolve(const char *base, const char *rel, int is_spec)
{
    const char *slash = strrchr(base, '/');
    size_t dlen = slash ? (size_t)(slash - base) + 1 : 0;
    size_t cap = strlen(rel) * 2 + dlen * 4 + 16;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = rel;
    const char *colon = is_spec ? strchr(rel, ':') : NULL;
    if (colon) {
        memcpy(out, rel, (size_t)(colon - rel) + 1);
        o = (size_t)(colon - rel) + 1;
        p = colon + 1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len && p[0] != '/' && dlen && o + dlen < cap) {
            memcpy(out + o, base, dlen);
            o += dlen;
        }
        if (o + len + 2 > cap)
            break;
        memcpy(out + o, p, len);
        o += len;
        if (!comma)
            break;
        out[o++] = ',';
        p = comma + 1;
    }
    out[o] = '\0';
    return out;
}

static qdb_status bad(qdb_err *e, const char *path, const char *field, const char *want)
{
    return qdb_err_set(e, QDB_ERR_FORMAT, "%s: field '%s' must be %s", path, field, want);
}

static qdb_status floats(const cJSON *arr, const char *path, const char *field, float *out,
                         int *n, qdb_err *e)
{
    if (cJSON_IsNumber(arr)) {
        out[0] = (float)arr->valuedouble;
        *n = 1;
        return QDB_OK;
    }
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
        cJSON_GetArraySize(arr) > QDB_DATASET_MAX_CHANNELS)
        return bad(e, path, field, "a number or a list of 1 to 4 numbers");
    *n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsNumber(it))
            return bad(e, path, field, "a list of numbers");
        out[(*n)++] = (float)it->valuedouble;
    }
    return QDB_OK;
}

static qdb_status string_field(const cJSON *obj, const char *key, const char *path,
                               const char *field, int is_spec, char **out, qdb_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return QDB_OK;
    if (!cJSON_IsString(v))
        return bad(e, path, field, "a string");
    *out = resolve(path, v->valuestring, is_spec);
    return *out ? QDB_OK : qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
}

static qdb_status parse(const cJSON *root, const char *path, qdb_profile *p, qdb_err *e)
{
    qdb_status st;
    if (!cJSON_IsObject(root))
        return qdb_err_set(e, QDB_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "datasets");
    if (ds) {
        if (!cJSON_IsObject(ds))
            return bad(e, path, "datasets", "an object");
        if ((st = string_field(ds, "calib", path, "datasets.calib", 1, &p->calib, e)) != QDB_OK ||
            (st = string_field(ds, "eval", path, "datasets.eval", 1, &p->eval, e)) != QDB_OK)
            return st;
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
    if (pre) {
        if (!cJSON_IsObject(pre))
            return bad(e, path, "preprocess", "an object");
        p->has_preprocess = 1;
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(pre, "scale");
        if (sc) {
            if (!cJSON_IsNumber(sc) || !(sc->valuedouble > 0))
                return bad(e, path, "preprocess.scale", "a positive number");
            p->scale = (float)sc->valuedouble;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(pre, "mean");
        if (m && (st = floats(m, path, "preprocess.mean", p->mean, &p->n_mean, e)) != QDB_OK)
            return st;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(pre, "std");
        if (s && (st = floats(s, path, "preprocess.std", p->std, &p->n_std, e)) != QDB_OK)
            return st;
        for (int i = 0; i < p->n_std; i++)
            if (!(p->std[i] > 0))
                return bad(e, path, "preprocess.std", "positive");
    }
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(root, "classes");
    if (cl) {
        if (!cJSON_IsArray(cl) || cJSON_GetArraySize(cl) > QDB_PROFILE_MAX_CLASSES)
            return bad(e, path, "classes", "a list of at most 1000 names");
        p->classes = calloc((size_t)cJSON_GetArraySize(cl) + 1, sizeof *p->classes);
        if (!p->classes)
            return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, cl)
        {
            if (!cJSON_IsString(it))
                return bad(e, path, "classes", "a list of strings");
            if (!(p->classes[p->n_classes] = strdup(it->valuestring)))
                return qdb_err_set(e, QDB_ERR_NOMEM, "%s: out of memory", path);
            p->n_classes++;
        }
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "reference");
    if (ref) {
        if (!cJSON_IsObject(ref))
            return bad(e, path, "reference", "an object");
        const cJSON *fw = cJSON_GetObjectItemCaseSensitive(ref, "framework");
        if (fw && (!cJSON_IsString(fw) || !(p->ref_framework = strdup(fw->valuestring))))
            return bad(e, path, "reference.framework", "a string");
        const char *keys[2] = {"top1", "top5"};
        double *dst[2] = {&p->ref_top1, &p->ref_top5};
        for (int k = 0; k < 2; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ref, keys[k]);
            if (!v)
                continue;
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1)
                return bad(e, path, k ? "reference.top5" : "reference.top1",
                           "a fraction between 0 and 1");
            *dst[k] = v->valuedouble;
        }
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(ref, "n");
        if (n) {
            if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 1e12)
                return bad(e, path, "reference.n", "a positive count");
            p->ref_n = (long)n->valuedouble;
        }
        if ((st = string_field(ref, "predictions", path, "reference.predictions", 0,
                               &p->ref_predictions, e)) != QDB_OK)
            return st;
    }
    return QDB_OK;
}

qdb_status qdb_profile_load(const char *model_path, qdb_profile *p, qdb_err *e)
{
    memset(p, 0, sizeof *p);
    p->scale = 1.0f;
    p->ref_top1 = p->ref_top5 = -1;
    char *path = qdb_profile_path_for(model_path);
    if (!path)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        qdb_status st = errno == ENOENT ? QDB_OK
                                        : qdb_err_set(e, QDB_ERR_IO, "%s: cannot open: %s", path,
                                                      strerror(errno));
        free(path);
        return st;
    }
    fclose(f);
    p->path = path;
    void *buf;
    size_t len;
    qdb_status st = qdb_read_file(path, PROFILE_MAX_BYTES, &buf, &len, e);
    if (st != QDB_OK)
        goto fail;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long pos = at && at >= (const char *)buf && at <= (const char *)buf + len
                       ? (long)(at - (const char *)buf)
                       : -1L;
        free(buf);
        st = qdb_err_set(e, QDB_ERR_FORMAT, "%s: not valid JSON (near byte %ld)", path, pos);
        goto fail;
    }
    free(buf);
    st = parse(root, path, p, e);
    cJSON_Delete(root);
    if (st != QDB_OK)
        goto fail;
    return QDB_OK;
fail:
    qdb_profile_free(p);
    return st;
}

void qdb_profile_free(qdb_profile *p)
{
    free(p->path);
    free(p->calib);
    free(p->eval);
    for (int i = 0; i < p->n_classes; i++)
        free(p->classes[i]);
    free(p->classes);
    free(p->ref_framework);
    free(p->ref_predictions);
    memset(p, 0, sizeof *p);
}

void qdb_profile_apply(const qdb_profile *p, qdb_dataset_opts *o)
{
    if (!p->has_preprocess)
        return;
    o->scale = p->scale;
    o->n_mean = p->n_mean;
    memcpy(o->mean, p->mean, sizeof o->mean);
    o->n_std = p->n_std;
    memcpy(o->std, p->std, sizeof o->std);
}
