/* http_server.h -- every HTTP listener of the engine (metrics, ingest),
 * hardened the same way: libmicrohttpd with epoll and a thread pool, so
 * one slow client holds no other; limits on connections in total and per
 * client address; a deadline for a request's headers (and one for the
 * whole request) that a client trickling bytes cannot push back; bounded
 * header memory; optional TLS. */
#ifndef SENTINEL_HTTP_SERVER_H
#define SENTINEL_HTTP_SERVER_H

#include <microhttpd.h>
#include <stddef.h>

typedef struct sentinel_http_limits {
    unsigned threads;         /* the pool (0: 2) */
    unsigned connections;     /* at once, in total (0: 512) */
    unsigned per_address;     /* at once, from one client address (0: 32) */
    unsigned header_seconds;  /* from accept (or the last answer) to complete headers (0: 5) */
    unsigned request_seconds; /* from complete headers to the answer (0: 30) */
    size_t header_bytes;      /* memory a connection's headers may take (0: 32 KiB) */
} sentinel_http_limits_t;

typedef struct sentinel_http_server sentinel_http_server_t;

/* new: listen on HOST:PORT ("[::1]:0" takes any port) and serve every
 * request with `handler` (libmicrohttpd's access handler, called from the
 * pool's threads: it must be thread-safe); `completed` (may be NULL) is
 * called when a request ends, answered or not, to free what the handler
 * kept in *con_cls. A handler may suspend a connection and resume it from
 * another thread. With cert_pem and key_pem (the PEM texts, borrowed until
 * the call returns) it serves HTTPS. NULL with errstr naming `what` (the
 * flag) and the address on failure. */
sentinel_http_server_t *sentinel_http_start(const char *what, const char *listen,
                                            const sentinel_http_limits_t *limits,
                                            MHD_AccessHandlerCallback handler,
                                            MHD_RequestCompletedCallback completed, void *cls,
                                            const char *cert_pem, const char *key_pem, char *errstr,
                                            size_t errstr_size);

/* The port it listens on. */
int sentinel_http_port(const sentinel_http_server_t *server);

/* Stop accepting new connections; those open are served on. */
void sentinel_http_quiesce(sentinel_http_server_t *server);

/* Stop accepting, close every connection and free; NULL is fine. */
void sentinel_http_stop(sentinel_http_server_t *server);

#endif
