/* gateway.c -- the HTTP gateway of integrations.
 *
 * A request to POST /v1/events lives in a request_t from its headers to
 * its answer. Its headers are checked first (token, content type, size,
 * room in the budget), so a refusal costs no body. Its body is read into
 * memory reserved from the in-flight budget; then every event is checked
 * and encoded on the HTTP thread (each thread has its own codec), and the
 * valid ones are produced with a tag that points at their result. The
 * connection is suspended until the delivery reports, served by the
 * poller thread, have come for every message; the last one resumes it and
 * libmicrohttpd calls the handler again to send the answer. An atomic
 * request goes to the transaction thread instead, which publishes it in
 * one Kafka transaction. A request is freed when both libmicrohttpd and
 * its messages are done with it (a reference count). */
#include "ingest/gateway.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sentinel/event.h>
#include <sentinel/publisher.h>

#include "base/alloc.h"
#include "base/histogram.h"
#include "base/http_server.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "base/topic.h"
#include "base/utf8.h"
#include "events/schema_sources.h"
#include "ingest/auth.h"
#include "ingest/body.h"

extern const char sentinel_openapi_json[]; /* schemas/openapi.json, embedded */

#define ATOMIC_QUEUE 64       /* atomic requests waiting for the transaction thread */
#define QUEUE_MESSAGES 100000 /* the producer's queue, in messages */
#define STRINGIFY(x) #x
#define TEXT(x) STRINGIFY(x)
#define QUEUE_FULL_WAIT_MS 1000

/* ---------------------------------------------------------------- metrics */

enum {
    ROUTE_EVENTS,
    ROUTE_SCHEMAS,
    ROUTE_OPENAPI,
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_OTHER,
    ROUTES
};
static const char *const route_paths[ROUTES] = {
    "/v1/events", "/v1/schemas", "/openapi.json", "/healthz", "/readyz", "/metrics", "other"};
static const unsigned statuses[] = {200, 400, 401, 404, 405, 413, 415, 422, 429, 500, 503};
#define STATUSES (sizeof(statuses) / sizeof(statuses[0]))
#define MAX_TYPES 64

static const double latency_bounds[SENTINEL_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

typedef struct metrics {
    uint64_t requests[ROUTES][STATUSES];
    uint64_t accepted[MAX_TYPES + 1], rejected[MAX_TYPES + 1]; /* by type; the last: unknown */
    uint64_t auth_refused;
    sentinel_histogram_t request_seconds, ack_seconds;
} metrics_t;

/* ---------------------------------------------------------------- requests */

/* R_WITHHELD: valid, but in an atomic request with a rejection. */
enum { R_PENDING, R_DELIVERED, R_FAILED, R_REJECTED, R_WITHHELD };

typedef struct request request_t;

/* One event of a request: what became of it. */
typedef struct result {
    request_t *req;
    unsigned index;
    unsigned char state;
    unsigned char dead_letter_failed; /* rejected, but its dead letter was not delivered */
    int type;                         /* index in sentinel_event_types, or MAX_TYPES */
    char event_id[SENTINEL_UUID_LEN + 1];
    char workspace_id[SENTINEL_UUID_LEN + 1];
    char *reason;               /* rejected or failed: why */
    size_t value_at, value_len; /* its Avro in req->encoded */
} result_t;

struct request {
    ingest_gateway_t *gw;
    struct MHD_Connection *conn;
    int reading; /* the body is still coming */
    int too_large;
    int ndjson, atomic;
    ingest_credential_t credential;
    char *body;
    size_t len, reserved;
    result_t *results;
    size_t count;
    sentinel_bytes_t encoded;
    pthread_mutex_t lock;
    int pending;   /* messages (or the transaction) not yet reported */
    int refs;      /* libmicrohttpd's, and one per pending message */
    int suspended; /* waiting for pending to reach 0 */
    int done;      /* the answer can be sent */
    double started, body_done;
    request_t *next; /* in the atomic queue */
};

struct ingest_gateway {
    ingest_options_t options;
    char *topic, *dead_letter_topic;
    sentinel_conf_t *conf; /* borrowed; the transactional producer's too */
    sentinel_http_server_t *http;
    sentinel_publisher_t *pub;
    ingest_auth_t *auth;
    pthread_key_t codec_key;
    int codec_key_made;
    pthread_t poller, txn_thread;
    int poller_running, txn_running;
    volatile int stopping;
    size_t in_flight; /* bytes reserved by requests (lock) */
    int live;         /* requests not yet freed (lock) */
    pthread_mutex_t lock;
    pthread_cond_t txn_wake;
    request_t *atomic_head, *atomic_tail;
    int atomic_queued;
    int broker_ok;
    char *schemas_json;
    metrics_t m;
};

static void count_request(ingest_gateway_t *gw, int route, unsigned status) {
    for (size_t s = 0; s < STATUSES; s++)
        if (statuses[s] == status) {
            __atomic_fetch_add(&gw->m.requests[route][s], 1, __ATOMIC_RELAXED);
            return;
        }
}

static int type_index(const sentinel_event_type_t *type) {
    for (int i = 0; type && i < MAX_TYPES && sentinel_event_types[i]; i++)
        if (sentinel_event_types[i] == type) return i;
    return MAX_TYPES;
}

/* ---------------------------------------------------------------- answers */

static enum MHD_Result answer(ingest_gateway_t *gw, struct MHD_Connection *c, int route,
                              unsigned status, char *body, const char *type, int retry_after) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after > 0) {
        char seconds[16];
        snprintf(seconds, sizeof(seconds), "%d", retry_after);
        MHD_add_response_header(r, "Retry-After", seconds);
    }
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"sentinel\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", route == ROUTE_EVENTS ? "POST" : "GET");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    count_request(gw, route, status);
    return ret;
}

/* An error answer: {"error": "..."}. */
static enum MHD_Result refuse(ingest_gateway_t *gw, struct MHD_Connection *c, int route,
                              unsigned status, int retry_after, const char *fmt, ...)
    SENTINEL_PRINTF(6, 7);
static enum MHD_Result refuse(ingest_gateway_t *gw, struct MHD_Connection *c, int route,
                              unsigned status, int retry_after, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "error", message);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *body = sentinel_aprintf("%s\n", text);
    free(text);
    return answer(gw, c, route, status, body, "application/json", retry_after);
}

/* The answer to a request whose events are all reported. */
static enum MHD_Result answer_events(request_t *req) {
    ingest_gateway_t *gw = req->gw;
    /* What the poller wrote to the results, seen here. */
    pthread_mutex_lock(&req->lock);
    pthread_mutex_unlock(&req->lock);
    json_t *rejected = json_array(), *undelivered = json_array();
    size_t accepted = 0, rejections = 0, dead_letters_failed = 0;
    const char *failure = NULL;
    for (size_t i = 0; i < req->count; i++) {
        result_t *r = &req->results[i];
        if (r->state == R_DELIVERED) {
            accepted++;
            __atomic_fetch_add(&gw->m.accepted[r->type], 1, __ATOMIC_RELAXED);
        } else if (r->state == R_REJECTED) {
            rejections++;
            __atomic_fetch_add(&gw->m.rejected[r->type], 1, __ATOMIC_RELAXED);
            json_t *entry = json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i, "event_id",
                                      r->event_id, "reason", r->reason ? r->reason : "");
            /* Never dropped: a reason that is not UTF-8 (text quoted from
             * the body) is left out, the rejection stays. */
            if (!entry)
                entry = json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i, "event_id", "", "reason",
                                  "rejected (its reason is not valid UTF-8)");
            json_array_append_new(rejected, entry);
            if (r->dead_letter_failed) {
                json_array_append_new(undelivered, json_integer((json_int_t)i));
                dead_letters_failed++;
            }
        } else if (r->state != R_WITHHELD) {
            if (!failure) failure = r->reason;
            json_array_append_new(undelivered, json_integer((json_int_t)i));
        }
    }
    if (dead_letters_failed)
        sentinel_log(SENTINEL_LOG_ERROR, "ingest: %zu dead letter(s) of a request not delivered",
                     dead_letters_failed);
    unsigned status = MHD_HTTP_OK;
    json_t *o;
    if (json_array_size(undelivered)) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        o = json_pack("{s:I,s:o,s:o,s:s}", "accepted", (json_int_t)accepted, "rejected", rejected,
                      "not_delivered", undelivered, "error",
                      failure ? failure : "a dead letter was not delivered");
    } else {
        json_decref(undelivered);
        if (req->atomic && rejections) status = MHD_HTTP_UNPROCESSABLE_CONTENT;
        o = json_pack("{s:I,s:o}", "accepted", (json_int_t)accepted, "rejected", rejected);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *body = sentinel_aprintf("%s\n", text);
    free(text);
    double now = sentinel_monotonic_seconds();
    sentinel_histogram_add(&gw->m.ack_seconds, latency_bounds, now - req->body_done);
    sentinel_histogram_add(&gw->m.request_seconds, latency_bounds, now - req->started);
    return answer(gw, req->conn, ROUTE_EVENTS, status, body, "application/json",
                  status == MHD_HTTP_SERVICE_UNAVAILABLE ? 1 : 0);
}

/* ---------------------------------------------------------------- lifetime */

static void request_release(request_t *req) {
    pthread_mutex_lock(&req->lock);
    int last = --req->refs == 0;
    pthread_mutex_unlock(&req->lock);
    if (!last) return;
    ingest_gateway_t *gw = req->gw;
    for (size_t i = 0; i < req->count; i++)
        free(req->results[i].reason);
    free(req->results);
    free(req->encoded.data);
    free(req->body);
    pthread_mutex_destroy(&req->lock);
    pthread_mutex_lock(&gw->lock);
    gw->in_flight -= req->reserved;
    gw->live--;
    pthread_mutex_unlock(&gw->lock);
    free(req);
}

/* One message (or the transaction) reported: the last resumes the
 * connection, whose handler then answers. */
static void request_reported(request_t *req) {
    pthread_mutex_lock(&req->lock);
    int resume = --req->pending == 0 && req->suspended;
    if (req->pending == 0) req->done = 1;
    pthread_mutex_unlock(&req->lock);
    if (resume) MHD_resume_connection(req->conn);
    request_release(req);
}

static void on_delivery(void *opaque, uint64_t tag, const char *error) {
    ingest_gateway_t *gw = opaque;
    result_t *r = (result_t *)(uintptr_t)tag;
    if (!r) return;
    __atomic_store_n(&gw->broker_ok, error == NULL, __ATOMIC_RELAXED);
    if (r->state == R_REJECTED) {
        if (error) r->dead_letter_failed = 1; /* said once per request, in its answer */
    } else if (error) {
        r->state = R_FAILED;
        r->reason = sentinel_aprintf("not delivered: %s", error);
    } else {
        r->state = R_DELIVERED;
    }
    request_reported(r->req);
}

static void *poll_loop(void *arg) {
    ingest_gateway_t *gw = arg;
    while (!gw->stopping || sentinel_publisher_pending(gw->pub) > 0)
        sentinel_publisher_wait(gw->pub, 100);
    return NULL;
}

/* ---------------------------------------------------------------- events */

static void codec_free(void *codec) { sentinel_codec_destroy(codec); }

static sentinel_codec_t *thread_codec(ingest_gateway_t *gw) {
    sentinel_codec_t *codec = pthread_getspecific(gw->codec_key);
    if (!codec) {
        char errstr[512];
        codec = sentinel_codec_new(errstr, sizeof(errstr));
        if (!codec) {
            sentinel_log(SENTINEL_LOG_ERROR, "ingest: %s", errstr);
            abort(); /* the embedded schemas loaded at start: cannot happen */
        }
        pthread_setspecific(gw->codec_key, codec);
    }
    return codec;
}

static void reject(result_t *r, const char *fmt, ...) SENTINEL_PRINTF(2, 3);
static void reject(result_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char reason[2048];
    /* Tenants' values in it: cut at a character, or the answer's JSON
     * cannot hold it. */
    sentinel_utf8_vformat(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    free(r->reason);
    r->reason = sentinel_strdup(reason);
    r->state = R_REJECTED;
}

/* A string field of the event's JSON (event_id of an event that failed
 * its checks, data.repository_id), or "" when absent. */
static void json_field(const ingest_item_t *item, const char *object, const char *field, char *out,
                       size_t size) {
    out[0] = '\0';
    json_t *root = json_loadb(item->text, item->len, 0, NULL);
    json_t *at = object ? json_object_get(root, object) : root;
    const char *value = json_string_value(json_object_get(at, field));
    if (value) {
        snprintf(out, size, "%s", value);
        sentinel_utf8_trim(out); /* a tenant's text, cut at a character */
    }
    json_decref(root);
}

/* Check and encode every event; the verdicts go to req->results. Returns 0,
 * or -1 when the database cannot say which installation a repository is
 * of (the whole request is then 503). */
static int check_events(request_t *req, const ingest_item_t *items) {
    ingest_gateway_t *gw = req->gw;
    sentinel_codec_t *codec = thread_codec(gw);
    const ingest_credential_t *cred = &req->credential;
    /* Bound to an installation: the repositories the events name, looked
     * up in one query for the request, not one per event. */
    char(*repositories)[SENTINEL_UUID_LEN + 1] = NULL;
    if (cred->installation_id[0]) {
        repositories = sentinel_calloc(req->count, sizeof(*repositories));
        const char **named = sentinel_calloc(req->count, sizeof(*named));
        size_t n = 0;
        for (size_t i = 0; i < req->count; i++) {
            char repository[64];
            json_field(&items[i], "data", "repository_id", repository, sizeof(repository));
            if (repository[0] && !sentinel_uuid_normalize(repository, repositories[i]))
                named[n++] = repositories[i];
        }
        ingest_auth_result_t found = ingest_auth_repositories(gw->auth, named, n);
        free(named);
        if (found == INGEST_AUTH_UNAVAILABLE) {
            free(repositories);
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < req->count && !rc; i++) {
        result_t *r = &req->results[i];
        r->req = req;
        r->index = (unsigned)i;
        r->type = MAX_TYPES;
        sentinel_event_head_t head;
        char errstr[2048];
        size_t at = req->encoded.len;
        if (sentinel_event_json_to_avro(codec, items[i].text, items[i].len, &req->encoded, &head,
                                        errstr, sizeof(errstr))) {
            json_field(&items[i], NULL, "event_id", r->event_id, sizeof(r->event_id));
            char type[128];
            json_field(&items[i], NULL, "type", type, sizeof(type));
            r->type = type_index(type[0] ? sentinel_event_type_find(type) : NULL);
            reject(r, "%s", errstr);
            continue;
        }
        r->type = type_index(head.type);
        memcpy(r->event_id, head.event_id, sizeof(r->event_id));
        memcpy(r->workspace_id, head.workspace_id, sizeof(r->workspace_id));
        r->value_at = at;
        r->value_len = req->encoded.len - at;
        if (strcmp(head.workspace_id, cred->workspace_id)) {
            reject(r, "%s: workspace_id %s: this credential publishes for workspace %s only",
                   head.type->name, head.workspace_id, cred->workspace_id);
            continue;
        }
        if (!repositories) continue;
        const char *repository = repositories[i];
        if (!repository[0]) {
            reject(r,
                   "%s: names no repository, and this credential, bound to installation %s, "
                   "publishes only events of that installation's repositories",
                   head.type->name, cred->installation_id);
            continue;
        }
        char installation[SENTINEL_UUID_LEN + 1], workspace[SENTINEL_UUID_LEN + 1];
        ingest_auth_result_t found =
            ingest_auth_repository(gw->auth, repository, installation, workspace);
        if (found == INGEST_AUTH_UNAVAILABLE)
            rc = -1;
        else if (found == INGEST_AUTH_REFUSED || strcmp(installation, cred->installation_id) ||
                 strcmp(workspace, cred->workspace_id))
            reject(r,
                   "%s: data.repository_id %s: not a repository of installation %s, the only "
                   "one this credential publishes for",
                   head.type->name, repository, cred->installation_id);
    }
    free(repositories);
    return rc;
}

/* Produce one event (or, rejected, its dead letter) with its result as the
 * tag; a message Kafka refuses outright is failed at once. */
static void produce(request_t *req, sentinel_publisher_t *pub, result_t *r,
                    const ingest_item_t *item) {
    char errstr[512];
    sentinel_err_t err;
    pthread_mutex_lock(&req->lock);
    req->pending++;
    req->refs++;
    pthread_mutex_unlock(&req->lock);
    if (r->state == R_REJECTED) {
        char reason[2200];
        snprintf(reason, sizeof(reason), "event %u of a request: %s", r->index, r->reason);
        err = sentinel_publisher_send_dead_letter(pub, req->gw->dead_letter_topic, item->text,
                                                  item->len, item->len, reason, r->index,
                                                  (uint64_t)(uintptr_t)r, errstr, sizeof(errstr));
        if (err) r->dead_letter_failed = 1;
    } else {
        err = sentinel_publisher_send_encoded(pub, r->workspace_id,
                                              sentinel_event_types[r->type]->name, r->event_id,
                                              req->encoded.data + r->value_at, r->value_len,
                                              (uint64_t)(uintptr_t)r, errstr, sizeof(errstr));
        if (err) {
            r->state = R_FAILED;
            r->reason = sentinel_aprintf("not queued: %s", errstr);
        }
    }
    if (err) request_reported(req);
}

/* ---------------------------------------------------------------- atomic */

/* The transaction thread: each atomic request in one Kafka transaction, in
 * turn, with a transactional producer made when first needed (and again
 * after one fails for good). */
static void *txn_loop(void *arg) {
    ingest_gateway_t *gw = arg;
    sentinel_publisher_t *txn = NULL;
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    char *txid = sentinel_aprintf("sentinel-ingest-%s-%ld", host, (long)getpid());
    for (;;) {
        pthread_mutex_lock(&gw->lock);
        while (!gw->atomic_head && !gw->stopping)
            pthread_cond_wait(&gw->txn_wake, &gw->lock);
        request_t *req = gw->atomic_head;
        if (req) {
            gw->atomic_head = req->next;
            if (!gw->atomic_head) gw->atomic_tail = NULL;
            gw->atomic_queued--;
        }
        pthread_mutex_unlock(&gw->lock);
        if (!req) break;

        char errstr[1024] = "";
        sentinel_err_t err = SENTINEL_OK;
        if (!txn) {
            sentinel_publisher_options_t options = {.transactional = 1, .transactional_id = txid};
            txn = sentinel_publisher_new(gw->conf, &options, errstr, sizeof(errstr));
            if (!txn) err = SENTINEL_ERR_RETRIABLE;
        }
        if (!err) err = sentinel_publisher_begin(txn, errstr, sizeof(errstr));
        for (size_t i = 0; !err && i < req->count; i++) {
            result_t *r = &req->results[i];
            err = sentinel_publisher_send_encoded(
                txn, r->workspace_id, sentinel_event_types[r->type]->name, r->event_id,
                req->encoded.data + r->value_at, r->value_len, 0, errstr, sizeof(errstr));
        }
        if (!err) err = sentinel_publisher_commit(txn, errstr, sizeof(errstr));
        if (err && txn) {
            char why[512];
            if (sentinel_publisher_abort(txn, why, sizeof(why))) {
                sentinel_log(SENTINEL_LOG_WARN, "ingest: abort: %s; a new producer follows", why);
                sentinel_publisher_destroy(txn);
                txn = NULL;
            }
        }
        if (err) sentinel_log(SENTINEL_LOG_WARN, "ingest: atomic request: %s", errstr);
        for (size_t i = 0; i < req->count; i++) {
            result_t *r = &req->results[i];
            r->state = err ? R_FAILED : R_DELIVERED;
            if (err) r->reason = sentinel_aprintf("transaction aborted: %s", errstr);
        }
        request_reported(req);
    }
    if (txn) sentinel_publisher_destroy(txn);
    free(txid);
    return NULL;
}

/* ---------------------------------------------------------------- serving */

/* The body is complete: check, produce, and answer now or when reported. */
static enum MHD_Result body_complete(request_t *req) {
    ingest_gateway_t *gw = req->gw;
    req->reading = 0;
    req->body_done = sentinel_monotonic_seconds();
    if (req->too_large)
        return refuse(gw, req->conn, ROUTE_EVENTS, MHD_HTTP_CONTENT_TOO_LARGE, 0,
                      "the body is over --max-request-bytes (%zu bytes)",
                      gw->options.max_request_bytes);
    ingest_item_t *items = sentinel_calloc(gw->options.max_events, sizeof(*items));
    char errstr[256];
    ingest_body_result_t split =
        ingest_body_split(req->body, req->len, req->ndjson, items, gw->options.max_events,
                          &req->count, errstr, sizeof(errstr));
    if (split) {
        free(items);
        req->count = 0;
        return refuse(gw, req->conn, ROUTE_EVENTS,
                      split == INGEST_BODY_TOO_MANY ? MHD_HTTP_CONTENT_TOO_LARGE
                                                    : MHD_HTTP_BAD_REQUEST,
                      0, "%s%s", errstr, split == INGEST_BODY_TOO_MANY ? " (--max-events)" : "");
    }
    req->results = sentinel_calloc(req->count, sizeof(*req->results));
    if (check_events(req, items)) {
        free(items);
        return refuse(gw, req->conn, ROUTE_EVENTS, MHD_HTTP_SERVICE_UNAVAILABLE, 1,
                      "the database does not answer: installations cannot be checked");
    }
    size_t rejected = 0;
    for (size_t i = 0; i < req->count; i++)
        rejected += req->results[i].state == R_REJECTED;

    pthread_mutex_lock(&req->lock);
    req->pending = 1; /* this thread's own, until every message is out */
    pthread_mutex_unlock(&req->lock);
    int to_transaction = req->atomic && !rejected;
    for (size_t i = 0; i < req->count; i++) {
        result_t *r = &req->results[i];
        /* An atomic request with a rejection publishes nothing but its dead letters. */
        if (r->state == R_REJECTED || !req->atomic)
            produce(req, gw->pub, r, &items[i]);
        else if (!to_transaction)
            r->state = R_WITHHELD;
    }
    free(items);
    if (to_transaction) {
        pthread_mutex_lock(&gw->lock);
        int full = gw->atomic_queued >= ATOMIC_QUEUE;
        if (!full) {
            req->next = NULL;
            if (gw->atomic_tail)
                gw->atomic_tail->next = req;
            else
                gw->atomic_head = req;
            gw->atomic_tail = req;
            gw->atomic_queued++;
            pthread_mutex_lock(&req->lock);
            req->pending++;
            req->refs++;
            pthread_mutex_unlock(&req->lock);
            pthread_cond_signal(&gw->txn_wake);
        }
        pthread_mutex_unlock(&gw->lock);
        if (full) {
            pthread_mutex_lock(&req->lock);
            req->pending--;
            pthread_mutex_unlock(&req->lock);
            return refuse(gw, req->conn, ROUTE_EVENTS, MHD_HTTP_TOO_MANY_REQUESTS, 1,
                          "%d atomic requests are waiting for their transactions already",
                          ATOMIC_QUEUE);
        }
    }
    pthread_mutex_lock(&req->lock);
    int answer_now = --req->pending == 0;
    if (answer_now)
        req->done = 1;
    else {
        req->suspended = 1;
        MHD_suspend_connection(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
    return answer_now ? answer_events(req) : MHD_YES;
}

static int route_of(const char *url) {
    for (int r = 0; r < ROUTE_OTHER; r++)
        if (!strcmp(url, route_paths[r])) return r;
    return ROUTE_OTHER;
}

static int ready(ingest_gateway_t *gw) {
    return __atomic_load_n(&gw->broker_ok, __ATOMIC_RELAXED) && ingest_auth_reachable(gw->auth) &&
           !gw->stopping;
}

static char *render_metrics(ingest_gateway_t *gw);

static enum MHD_Result serve_get(ingest_gateway_t *gw, struct MHD_Connection *c, int route,
                                 const char *method) {
    if (route == ROUTE_OTHER) return refuse(gw, c, route, MHD_HTTP_NOT_FOUND, 0, "no such route");
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return refuse(gw, c, route, MHD_HTTP_METHOD_NOT_ALLOWED, 0, "GET only");
    switch (route) {
    case ROUTE_SCHEMAS:
        return answer(gw, c, route, MHD_HTTP_OK, sentinel_strdup(gw->schemas_json),
                      "application/json", 0);
    case ROUTE_OPENAPI:
        return answer(gw, c, route, MHD_HTTP_OK, sentinel_strdup(sentinel_openapi_json),
                      "application/json", 0);
    case ROUTE_HEALTHZ:
        return answer(gw, c, route, MHD_HTTP_OK, sentinel_strdup("ok\n"), "text/plain", 0);
    case ROUTE_READYZ: {
        int ok = ready(gw);
        return answer(gw, c, route, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                      sentinel_strdup(ok ? "ready\n" : "not ready\n"), "text/plain", 0);
    }
    default:
        return answer(gw, c, route, MHD_HTTP_OK, render_metrics(gw), "text/plain; version=0.0.4",
                      0);
    }
}

/* Headers of POST /v1/events: every refusal that needs no body. */
static enum MHD_Result start_events(ingest_gateway_t *gw, struct MHD_Connection *c,
                                    const char *method, void **con_cls) {
    if (strcmp(method, "POST"))
        return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_METHOD_NOT_ALLOWED, 0, "POST only");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *addr = info ? info->client_addr : NULL;
    int retry_after = 0;
    if (ingest_auth_blocked(gw->auth, addr, &retry_after))
        return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_TOO_MANY_REQUESTS, retry_after,
                      "too many failed authentications from this address");
    const char *authorization =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    ingest_credential_t credential;
    ingest_auth_result_t auth = INGEST_AUTH_REFUSED;
    if (authorization && !strncasecmp(authorization, "Bearer ", 7)) {
        const char *token = authorization + 7;
        while (*token == ' ')
            token++;
        size_t len = strlen(token);
        while (len && token[len - 1] == ' ')
            len--;
        if (len) auth = ingest_auth_check(gw->auth, token, len, &credential);
    }
    if (auth == INGEST_AUTH_UNAVAILABLE)
        return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_SERVICE_UNAVAILABLE, 1,
                      "the database does not answer: the token cannot be checked");
    if (auth != INGEST_AUTH_OK) {
        ingest_auth_failed(gw->auth, addr);
        __atomic_fetch_add(&gw->m.auth_refused, 1, __ATOMIC_RELAXED);
        return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_UNAUTHORIZED, 0,
                      authorization ? "the token is unknown or revoked"
                                    : "no token: send Authorization: Bearer TOKEN");
    }
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t type_len = type ? strcspn(type, "; ") : 0;
    int ndjson = type_len == 20 && !strncasecmp(type, "application/x-ndjson", 20);
    if (!ndjson && !(type_len == 16 && !strncasecmp(type, "application/json", 16)))
        return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, 0,
                      "Content-Type must be application/x-ndjson or application/json");
    const char *length =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t reserve = gw->options.max_request_bytes;
    if (length) {
        char *end;
        unsigned long long n = strtoull(length, &end, 10);
        if (n > gw->options.max_request_bytes)
            return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_CONTENT_TOO_LARGE, 0,
                          "the body is %llu bytes, over --max-request-bytes (%zu)", n,
                          gw->options.max_request_bytes);
        reserve = (size_t)n;
    }
    /* The body, and its events encoded, at most about twice its size. */
    reserve = 2 * reserve + 4096;
    const char *atomic = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "atomic");
    pthread_mutex_lock(&gw->lock);
    int room = gw->in_flight + reserve <= gw->options.max_in_flight_bytes && !gw->stopping;
    if (room) {
        gw->in_flight += reserve;
        gw->live++;
    }
    pthread_mutex_unlock(&gw->lock);
    if (!room || sentinel_publisher_pending(gw->pub) > QUEUE_MESSAGES * 9 / 10) {
        if (room) {
            pthread_mutex_lock(&gw->lock);
            gw->in_flight -= reserve;
            gw->live--;
            pthread_mutex_unlock(&gw->lock);
        }
        return refuse(gw, c, ROUTE_EVENTS, MHD_HTTP_TOO_MANY_REQUESTS, 1, "%s",
                      gw->stopping ? "the gateway is stopping"
                      : room       ? "the producer's queue is full"
                                   : "the gateway's in-flight budget is full");
    }
    request_t *req = sentinel_calloc(1, sizeof(*req));
    req->gw = gw;
    req->conn = c;
    req->reading = 1;
    req->ndjson = ndjson;
    req->atomic = atomic && (!strcmp(atomic, "true") || !strcmp(atomic, "1"));
    req->credential = credential;
    req->reserved = reserve;
    req->refs = 1;
    req->started = sentinel_monotonic_seconds();
    pthread_mutex_init(&req->lock, NULL);
    *con_cls = req;
    return MHD_YES;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls) {
    (void)version;
    ingest_gateway_t *gw = cls;
    request_t *req = *con_cls;
    if (!req) {
        int route = route_of(url);
        return route == ROUTE_EVENTS ? start_events(gw, c, method, con_cls)
                                     : serve_get(gw, c, route, method);
    }
    if (req->reading && *upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->len + n > gw->options.max_request_bytes) {
            req->too_large = 1; /* the rest is read and dropped; 413 at its end */
            return MHD_YES;
        }
        if (!req->body) req->body = sentinel_malloc(req->reserved / 2);
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        return MHD_YES;
    }
    if (req->reading) return body_complete(req);
    /* Resumed: every message is reported. */
    return req->done ? answer_events(req) : MHD_YES;
}

/* libmicrohttpd is done with a request (answered, or the client left). */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    request_t *req = *con_cls;
    if (req) request_release(req);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- metrics */

static char *render_metrics(ingest_gateway_t *gw) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) abort();
    fprintf(out, "# HELP sentinel_ingest_requests_total Requests answered, by route and status.\n"
                 "# TYPE sentinel_ingest_requests_total counter\n");
    for (int r = 0; r < ROUTES; r++)
        for (size_t s = 0; s < STATUSES; s++) {
            uint64_t n = __atomic_load_n(&gw->m.requests[r][s], __ATOMIC_RELAXED);
            if (n || (r == ROUTE_EVENTS && statuses[s] == 200))
                fprintf(out, "sentinel_ingest_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                        route_paths[r], statuses[s], (unsigned long long)n);
        }
    static const char *const kinds[2] = {"accepted", "rejected"};
    for (int k = 0; k < 2; k++) {
        fprintf(out,
                "# HELP sentinel_ingest_events_%s_total Events %s, by type.\n"
                "# TYPE sentinel_ingest_events_%s_total counter\n",
                kinds[k], k ? "rejected (and dead-lettered)" : "accepted and delivered", kinds[k]);
        const uint64_t *counts = k ? gw->m.rejected : gw->m.accepted;
        for (int t = 0; t <= MAX_TYPES; t++) {
            if (t < MAX_TYPES && !sentinel_event_types[t]) t = MAX_TYPES;
            uint64_t n = __atomic_load_n(&counts[t], __ATOMIC_RELAXED);
            if (t == MAX_TYPES && !n) break;
            fprintf(out, "sentinel_ingest_events_%s_total{type=\"%s\"} %llu\n", kinds[k],
                    t == MAX_TYPES ? "unknown" : sentinel_event_types[t]->name,
                    (unsigned long long)n);
        }
    }
    struct {
        const char *metric, *help;
        const sentinel_histogram_t *h;
    } histograms[] = {
        {"sentinel_ingest_request_seconds",
         "From a request's headers to its answer (POST /v1/events).", &gw->m.request_seconds},
        {"sentinel_ingest_ack_seconds",
         "From a request's whole body to its answer: checks, produce and the broker's "
         "acknowledgement.",
         &gw->m.ack_seconds},
    };
    for (size_t h = 0; h < 2; h++) {
        sentinel_histogram_t copy = {0};
        sentinel_histogram_sum(&copy, histograms[h].h);
        fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", histograms[h].metric,
                histograms[h].help, histograms[h].metric);
        sentinel_histogram_text(out, histograms[h].metric, "", &copy, latency_bounds);
    }
    pthread_mutex_lock(&gw->lock);
    size_t in_flight = gw->in_flight;
    pthread_mutex_unlock(&gw->lock);
    fprintf(out,
            "# HELP sentinel_ingest_in_flight_bytes Bytes reserved by requests being served.\n"
            "# TYPE sentinel_ingest_in_flight_bytes gauge\n"
            "sentinel_ingest_in_flight_bytes %zu\n"
            "# HELP sentinel_ingest_in_flight_limit_bytes The budget (--max-in-flight).\n"
            "# TYPE sentinel_ingest_in_flight_limit_bytes gauge\n"
            "sentinel_ingest_in_flight_limit_bytes %zu\n"
            "# HELP sentinel_ingest_queue_fill The producer's queue, as a fraction of its size.\n"
            "# TYPE sentinel_ingest_queue_fill gauge\n"
            "sentinel_ingest_queue_fill %.4f\n"
            "# HELP sentinel_ingest_auth_refused_total Requests refused for their token.\n"
            "# TYPE sentinel_ingest_auth_refused_total counter\n"
            "sentinel_ingest_auth_refused_total %llu\n"
            "# HELP sentinel_ingest_ready 1 when the broker and the database answer.\n"
            "# TYPE sentinel_ingest_ready gauge\n"
            "sentinel_ingest_ready %d\n",
            in_flight, gw->options.max_in_flight_bytes,
            (double)sentinel_publisher_pending(gw->pub) / QUEUE_MESSAGES,
            (unsigned long long)__atomic_load_n(&gw->m.auth_refused, __ATOMIC_RELAXED), ready(gw));
    fclose(out);
    return text;
}

/* ---------------------------------------------------------------- start, stop */

/* GET /v1/schemas: {"types": [{"name", "versions": [{"version", "schema"}]}]} */
static char *schemas_document(void) {
    json_t *types = json_array();
    for (size_t i = 0; sentinel_event_types[i]; i++) {
        const char *name = sentinel_event_types[i]->name;
        json_t *versions = json_array();
        for (size_t s = 0; s < sentinel_schema_source_count; s++) {
            const char *file = sentinel_schema_sources[s].file;
            size_t n = strlen(name);
            if (strncmp(file, name, n) || strncmp(file + n, ".v", 2)) continue;
            json_t *schema = json_loads(sentinel_schema_sources[s].json, 0, NULL);
            json_array_append_new(versions, json_pack("{s:i,s:o}", "version", atoi(file + n + 2),
                                                      "schema", schema ? schema : json_null()));
        }
        json_array_append_new(types, json_pack("{s:s,s:o}", "name", name, "versions", versions));
    }
    json_t *doc = json_pack("{s:o}", "types", types);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

ingest_gateway_t *ingest_start(sentinel_conf_t *conf, const ingest_options_t *options, char *errstr,
                               size_t errstr_size) {
    ingest_gateway_t *gw = sentinel_calloc(1, sizeof(*gw));
    gw->options = *options;
    ingest_options_t *o = &gw->options;
    if (!o->max_request_bytes) o->max_request_bytes = 4 << 20;
    if (!o->max_events) o->max_events = 1000;
    if (!o->delivery_timeout_ms) o->delivery_timeout_ms = 30000;
    if (!o->max_in_flight_bytes) o->max_in_flight_bytes = 64 << 20;
    if (!o->connections) o->connections = 1024;
    if (!o->per_address) o->per_address = 64;
    pthread_mutex_init(&gw->lock, NULL);
    pthread_cond_init(&gw->txn_wake, NULL);
    gw->topic = sentinel_strdup(sentinel_conf_topic(conf));
    gw->dead_letter_topic = sentinel_aprintf("%s.dead-letter", gw->topic);
    gw->schemas_json = schemas_document();
    if (pthread_key_create(&gw->codec_key, codec_free)) {
        snprintf(errstr, errstr_size, "cannot make a thread key");
        goto fail;
    }
    gw->codec_key_made = 1;
    /* The codec loads at start, so a broken build fails here, not in a request. */
    sentinel_codec_t *probe = sentinel_codec_new(errstr, errstr_size);
    if (!probe) goto fail;
    sentinel_codec_destroy(probe);

    gw->auth = ingest_auth_new(sentinel_conf_db(conf), sentinel_conf_connect_timeout(conf), errstr,
                               errstr_size);
    if (!gw->auth) goto fail;

    /* The producer: the delivery timeout is the message timeout, the
     * queue bounded, the linger short: a request waits for it, and many
     * requests at once fill the batches anyway (1 ms: 29k single-event
     * requests/s, against 4.9k at 5 ms, bench/ingest.sh). */
    gw->conf = conf;
    char setting[64];
    snprintf(setting, sizeof(setting), "message.timeout.ms=%d", o->delivery_timeout_ms);
    const char *settings[] = {setting, "linger.ms=1", "queue.buffering.max.kbytes=65536",
                              "queue.buffering.max.messages=" TEXT(QUEUE_MESSAGES)};
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (sentinel_conf_set_kafka(gw->conf, settings[i], errstr, errstr_size)) goto fail;
    if (o->delivery_timeout_ms > 60000) {
        snprintf(setting, sizeof(setting), "transaction.timeout.ms=%d", o->delivery_timeout_ms);
        if (sentinel_conf_set_kafka(gw->conf, setting, errstr, errstr_size)) goto fail;
    }
    /* The topics, when the broker answers now; else the first delivery says. */
    char why[1024];
    gw->broker_ok = !sentinel_topic_ensure(gw->conf, gw->topic, SENTINEL_DEFAULT_PARTITIONS, why,
                                           sizeof(why)) &&
                    !sentinel_topic_ensure(gw->conf, gw->dead_letter_topic, 1, why, sizeof(why));
    if (!gw->broker_ok)
        sentinel_log(SENTINEL_LOG_WARN, "ingest: %s; serving anyway, /readyz says not ready", why);
    sentinel_publisher_options_t pub_options = {
        .on_delivery = on_delivery, .opaque = gw, .full_queue_wait_ms = QUEUE_FULL_WAIT_MS};
    gw->pub = sentinel_publisher_new(gw->conf, &pub_options, errstr, errstr_size);
    if (!gw->pub) goto fail;
    if (pthread_create(&gw->poller, NULL, poll_loop, gw) ||
        (gw->poller_running = 1, pthread_create(&gw->txn_thread, NULL, txn_loop, gw))) {
        snprintf(errstr, errstr_size, "cannot start a thread");
        goto fail;
    }
    gw->txn_running = 1;
    /* A request may wait for its body, then for its deliveries. */
    sentinel_http_limits_t limits = {
        .threads = o->threads,
        .connections = o->connections,
        .per_address = o->per_address,
        .request_seconds = 30 + (unsigned)(o->delivery_timeout_ms / 1000) + 5,
    };
    gw->http = sentinel_http_start("--listen", o->listen, &limits, serve, completed, gw,
                                   o->tls_cert_pem, o->tls_key_pem, errstr, errstr_size);
    if (!gw->http) goto fail;
    return gw;
fail:
    ingest_stop(gw);
    return NULL;
}

int ingest_port(const ingest_gateway_t *gw) { return sentinel_http_port(gw->http); }

int ingest_stop(ingest_gateway_t *gw) {
    if (!gw) return 0;
    int rc = 0;
    if (gw->http) {
        /* No new connections; what is in flight is answered (its messages
         * report within the delivery timeout), then the server stops. */
        sentinel_http_quiesce(gw->http);
        pthread_mutex_lock(&gw->lock);
        gw->stopping = 1;
        pthread_mutex_unlock(&gw->lock);
        double until = sentinel_monotonic_seconds() + gw->options.delivery_timeout_ms / 1000.0 + 10;
        for (;;) {
            pthread_mutex_lock(&gw->lock);
            int live = gw->live;
            pthread_mutex_unlock(&gw->lock);
            if (!live || sentinel_monotonic_seconds() > until) break;
            struct timespec pause = {0, 20 * 1000000L};
            nanosleep(&pause, NULL);
        }
        sentinel_http_stop(gw->http);
    }
    pthread_mutex_lock(&gw->lock);
    gw->stopping = 1;
    pthread_cond_broadcast(&gw->txn_wake);
    pthread_mutex_unlock(&gw->lock);
    if (gw->txn_running) pthread_join(gw->txn_thread, NULL);
    if (gw->poller_running) pthread_join(gw->poller, NULL);
    if (gw->pub) {
        char errstr[512];
        if (sentinel_publisher_flush(gw->pub, gw->options.delivery_timeout_ms, errstr,
                                     sizeof(errstr)) == SENTINEL_ERR_RETRIABLE) {
            sentinel_log(SENTINEL_LOG_ERROR, "ingest: %s", errstr);
            rc = -1;
        }
        sentinel_publisher_destroy(gw->pub);
    }
    ingest_auth_destroy(gw->auth);
    if (gw->codec_key_made) pthread_key_delete(gw->codec_key);
    pthread_mutex_destroy(&gw->lock);
    pthread_cond_destroy(&gw->txn_wake);
    free(gw->schemas_json);
    free(gw->topic);
    free(gw->dead_letter_topic);
    free(gw);
    return rc;
}
