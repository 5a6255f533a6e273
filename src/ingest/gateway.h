/* gateway.h -- `sentinel ingest`: the HTTP gateway integrations publish
 * through. POST /v1/events takes NDJSON or a JSON array of events with a
 * bearer token, checks each as `sentinel publish` does plus the token's
 * workspace and installation, produces the valid ones (idempotent
 * producer, acks=all), dead-letters the rest, and answers only once the
 * broker has acknowledged every event it accepts. ?atomic=true publishes
 * all in one Kafka transaction or none. Also /v1/schemas, /openapi.json,
 * /healthz, /readyz and /metrics. ../shared/DESIGN.md, "Ingest over
 * HTTP", is its contract. */
#ifndef SENTINEL_INGEST_GATEWAY_H
#define SENTINEL_INGEST_GATEWAY_H

#include <stddef.h>

#include <sentinel/conf.h>

typedef struct ingest_options {
    const char *listen;       /* HOST:PORT */
    const char *tls_cert_pem; /* with tls_key_pem: serve HTTPS (PEM texts, borrowed) */
    const char *tls_key_pem;
    size_t max_request_bytes;   /* 413 over it (0: 4 MiB) */
    size_t max_events;          /* 413 over it (0: 1000) */
    int delivery_timeout_ms;    /* 503 when not delivered by then (0: 30 s) */
    size_t max_in_flight_bytes; /* bodies held at once; 429 beyond (0: 64 MiB) */
    unsigned threads;           /* the HTTP pool (0: 2) */
    unsigned connections;       /* open connections at most (0: 1024) */
    unsigned per_address;       /* ... from one client address (0: 64) */
} ingest_options_t;

typedef struct ingest_gateway ingest_gateway_t;

/* start: listen and serve until ingest_stop. conf gives the brokers, the
 * topic, librdkafka's properties and the database (as sentinel_ingest);
 * the producer's settings (message timeout, linger, queue) are added to
 * it, and it must outlive the gateway. NULL with the reason in errstr. */
ingest_gateway_t *ingest_start(sentinel_conf_t *conf, const ingest_options_t *options, char *errstr,
                               size_t errstr_size);

/* The port it listens on. */
int ingest_port(const ingest_gateway_t *gw);

/* Stop accepting, answer what is in flight, flush the producer, free.
 * Returns 0, or -1 when messages were still unacknowledged at the end. */
int ingest_stop(ingest_gateway_t *gw);

#endif
