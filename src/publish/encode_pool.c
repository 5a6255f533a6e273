/* encode_pool.c -- a fixed ring of chunks, filled by the reader, encoded by
 * workers (one codec each), drained in order by the producer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "publish/encode_pool.h"

enum chunk_state { CHUNK_FREE, CHUNK_FILLING, CHUNK_QUEUED, CHUNK_WORKING, CHUNK_DONE };

struct sentinel_chunk {
    enum chunk_state state;
    unsigned long seq;
    char *text; /* the lines, back to back */
    size_t text_len, text_cap;
    sentinel_encoded_t *items;
    size_t n, cap;
    sentinel_bytes_t out; /* encoded values and error texts */
};

typedef struct worker {
    sentinel_encode_pool_t *pool;
    sentinel_codec_t *codec;
    pthread_t thread;
} worker_t;

struct sentinel_encode_pool {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    sentinel_chunk_t *chunks;
    size_t n_chunks;
    size_t chunk_lines;
    unsigned long next_seq;  /* given to the next submitted chunk */
    unsigned long drain_seq; /* the next chunk to hand out in order */
    sentinel_chunk_t *filling;
    int validate_only, print, stopping;
    worker_t *workers;
    int n_workers;
};

static void bytes_append(sentinel_bytes_t *out, const void *data, size_t n) {
    out->data = sentinel_grow(out->data, &out->cap, out->len, n, 1 << 20);
    memcpy(out->data + out->len, data, n);
    out->len += n;
}

/* Encode every line of a chunk: one pass from JSON to Avro, written
 * straight into the chunk's buffer (the reference path only when printing,
 * which needs the event). Results refer into c->out by offset while it may
 * still move; pointers are fixed up at the end. */
static void encode_chunk(worker_t *w, sentinel_chunk_t *c) {
    size_t *value_off = sentinel_malloc((c->n + 1) * sizeof(size_t));
    size_t *error_off = sentinel_malloc((c->n + 1) * sizeof(size_t));
    sentinel_bytes_t *out = &c->out;
    out->len = 0;
    for (size_t i = 0; i < c->n; i++) {
        sentinel_encoded_t *it = &c->items[i];
        sentinel_event_head_t head;
        char errstr[1024];
        size_t mark = out->len;
        it->ok = 0;
        it->normalized = NULL;
        value_off[i] = error_off[i] = (size_t)-1;
        sentinel_err_t err = sentinel_event_json_to_avro(w->codec, it->line, it->line_len, out,
                                                         &head, errstr, sizeof(errstr));
        if (err) {
            error_off[i] = out->len;
            bytes_append(out, errstr, strlen(errstr) + 1);
            continue;
        }
        it->ok = 1;
        memcpy(it->key, head.workspace_id, sizeof(it->key));
        memcpy(it->event_id, head.event_id, sizeof(it->event_id));
        it->type_name = head.type->name;
        if (w->pool->validate_only) {
            out->len = mark;
        } else {
            value_off[i] = mark;
            it->value_len = out->len - mark;
        }
        if (w->pool->print) {
            sentinel_event_t ev;
            if (!sentinel_event_from_json(w->codec, it->line, it->line_len, &ev, errstr,
                                          sizeof(errstr))) {
                it->normalized = sentinel_event_to_json(&ev);
                sentinel_event_clear(&ev);
            }
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        sentinel_encoded_t *it = &c->items[i];
        it->value = value_off[i] == (size_t)-1 ? NULL : c->out.data + value_off[i];
        it->error = error_off[i] == (size_t)-1 ? NULL : (const char *)c->out.data + error_off[i];
    }
    free(value_off);
    free(error_off);
}

static void *work(void *arg) {
    worker_t *w = arg;
    pthread_setname_np(pthread_self(), "encode"); /* for `top -H` and perf */
    sentinel_encode_pool_t *pool = w->pool;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        sentinel_chunk_t *job = NULL;
        /* The oldest queued chunk first, to keep the drain moving. */
        for (size_t i = 0; i < pool->n_chunks; i++) {
            sentinel_chunk_t *c = &pool->chunks[i];
            if (c->state == CHUNK_QUEUED && (!job || c->seq < job->seq)) job = c;
        }
        if (!job) {
            if (pool->stopping) break;
            pthread_cond_wait(&pool->changed, &pool->lock);
            continue;
        }
        job->state = CHUNK_WORKING;
        pthread_mutex_unlock(&pool->lock);
        encode_chunk(w, job);
        pthread_mutex_lock(&pool->lock);
        job->state = CHUNK_DONE;
        pthread_cond_broadcast(&pool->changed);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

sentinel_encode_pool_t *sentinel_encode_pool_new(int threads, size_t chunk_lines, size_t max_bytes,
                                                 int validate_only, int print, char *errstr,
                                                 size_t errstr_size) {
    if (threads < 1) threads = 1;
    sentinel_encode_pool_t *pool = sentinel_calloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->changed, NULL);
    pool->chunk_lines = chunk_lines ? chunk_lines : 1024;
    pool->n_chunks = (size_t)threads * 2 + 2;
    pool->chunks = sentinel_calloc(pool->n_chunks, sizeof(*pool->chunks));
    pool->validate_only = validate_only;
    pool->print = print;
    pool->workers = sentinel_calloc((size_t)threads, sizeof(*pool->workers));
    for (int i = 0; i < threads; i++) {
        worker_t *w = &pool->workers[i];
        w->pool = pool;
        w->codec = sentinel_codec_new(errstr, errstr_size);
        if (!w->codec) {
            sentinel_encode_pool_destroy(pool);
            return NULL;
        }
        sentinel_codec_set_max_bytes(w->codec, max_bytes);
        if (pthread_create(&w->thread, NULL, work, w)) {
            sentinel_codec_destroy(w->codec);
            w->codec = NULL;
            snprintf(errstr, errstr_size, "cannot start an encoding thread");
            sentinel_encode_pool_destroy(pool);
            return NULL;
        }
        pool->n_workers++;
    }
    return pool;
}

void sentinel_encode_pool_destroy(sentinel_encode_pool_t *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_workers; i++)
        pthread_join(pool->workers[i].thread, NULL);
    for (int i = 0; pool->workers && i < pool->n_workers; i++)
        sentinel_codec_destroy(pool->workers[i].codec);
    for (size_t i = 0; i < pool->n_chunks; i++) {
        sentinel_chunk_t *c = &pool->chunks[i];
        for (size_t k = 0; k < c->n; k++)
            free(c->items[k].normalized);
        free(c->text);
        free(c->items);
        free(c->out.data);
    }
    free(pool->chunks);
    free(pool->workers);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->changed);
    free(pool);
}

/* A free chunk to fill, or NULL when all are in flight (only the drain
 * frees them, and the caller is the drain). */
static sentinel_chunk_t *take_free(sentinel_encode_pool_t *pool) {
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->n_chunks; i++) {
        sentinel_chunk_t *c = &pool->chunks[i];
        if (c->state == CHUNK_FREE) {
            c->state = CHUNK_FILLING;
            pthread_mutex_unlock(&pool->lock);
            for (size_t k = 0; k < c->n; k++)
                free(c->items[k].normalized);
            c->n = 0;
            c->text_len = 0;
            return c;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static void submit(sentinel_encode_pool_t *pool, sentinel_chunk_t *c) {
    /* Lines point into c->text, which may have moved while filling. */
    size_t off = 0;
    for (size_t i = 0; i < c->n; i++) {
        c->items[i].line = c->text + off;
        off += c->items[i].line_len;
    }
    pthread_mutex_lock(&pool->lock);
    c->seq = pool->next_seq++;
    c->state = CHUNK_QUEUED;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

int sentinel_encode_pool_add(sentinel_encode_pool_t *pool, const char *line, size_t len,
                             unsigned long number) {
    if (!pool->filling) pool->filling = take_free(pool);
    if (!pool->filling) return 1;
    sentinel_chunk_t *c = pool->filling;
    c->text = sentinel_grow(c->text, &c->text_cap, c->text_len, len, 1 << 20);
    memcpy(c->text + c->text_len, line, len);
    c->text_len += len;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : pool->chunk_lines;
        sentinel_encoded_t *grown = sentinel_realloc(c->items, c->cap * sizeof(*grown));
        c->items = grown;
    }
    sentinel_encoded_t *it = &c->items[c->n++];
    memset(it, 0, sizeof(*it));
    it->number = number;
    it->line_len = len;
    if (c->n >= pool->chunk_lines || c->text_len >= (8u << 20)) {
        submit(pool, c);
        pool->filling = NULL;
    }
    return 0;
}

void sentinel_encode_pool_flush(sentinel_encode_pool_t *pool) {
    if (pool->filling && pool->filling->n) {
        submit(pool, pool->filling);
        pool->filling = NULL;
    }
}

sentinel_chunk_t *sentinel_encode_pool_next(sentinel_encode_pool_t *pool, int wait) {
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->drain_seq == pool->next_seq) break; /* nothing in flight */
        for (size_t i = 0; i < pool->n_chunks; i++) {
            sentinel_chunk_t *c = &pool->chunks[i];
            if (c->state == CHUNK_DONE && c->seq == pool->drain_seq) {
                pool->drain_seq++;
                pthread_mutex_unlock(&pool->lock);
                return c;
            }
        }
        if (!wait) break;
        pthread_cond_wait(&pool->changed, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

void sentinel_encode_pool_release(sentinel_encode_pool_t *pool, sentinel_chunk_t *chunk) {
    pthread_mutex_lock(&pool->lock);
    chunk->state = CHUNK_FREE;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

size_t sentinel_chunk_count(const sentinel_chunk_t *chunk) { return chunk->n; }

const sentinel_encoded_t *sentinel_chunk_get(const sentinel_chunk_t *chunk, size_t i) {
    return &chunk->items[i];
}
