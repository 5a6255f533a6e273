/* http_server.c -- libmicrohttpd set up so that no client can hold the
 * listener: epoll and a pool of threads, connection limits, and a sweeper
 * that ends connections past their deadline. libmicrohttpd's own timeout
 * restarts with every byte, so a client trickling a header line every few
 * seconds would keep its connection (and a slot) forever without it. */
#include "base/http_server.h"

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"

/* One open connection, from accept to close. */
typedef struct watched {
    struct watched *prev, *next;
    int fd;
    double deadline; /* monotonic seconds; past it the sweeper ends it */
    int in_request;  /* headers complete, the answer not yet sent */
    int cut;         /* ended by the sweeper */
} watched_t;

struct sentinel_http_server {
    struct MHD_Daemon *daemon;
    sentinel_http_limits_t limits;
    MHD_AccessHandlerCallback handler;
    MHD_RequestCompletedCallback completed;
    void *cls;
    pthread_mutex_t lock; /* the list */
    watched_t *open;
    pthread_t sweeper;
    int sweeping;
    volatile int stopping;
    int port;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The connection enters a phase: waiting for a request's headers, or
 * serving one. The deadline is set once per phase, so nothing a client
 * sends (a header line, a piece of the body) moves it. */
static void enter_phase(sentinel_http_server_t *s, struct MHD_Connection *c, int in_request) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    watched_t *w = info ? info->socket_context : NULL;
    if (!w) return;
    pthread_mutex_lock(&s->lock);
    if (!in_request || !w->in_request) {
        w->in_request = in_request;
        w->deadline =
            now_seconds() + (in_request ? s->limits.request_seconds : s->limits.header_seconds);
    }
    pthread_mutex_unlock(&s->lock);
}

/* libmicrohttpd calls this before it closes the socket: the sweeper never
 * touches a descriptor that may have been reused. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
    sentinel_http_server_t *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        watched_t *w = sentinel_calloc(1, sizeof(*w));
        w->fd = info ? info->connect_fd : -1;
        w->deadline = now_seconds() + s->limits.header_seconds;
        pthread_mutex_lock(&s->lock);
        w->next = s->open;
        if (s->open) s->open->prev = w;
        s->open = w;
        pthread_mutex_unlock(&s->lock);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        watched_t *w = *socket_context;
        if (!w) return;
        pthread_mutex_lock(&s->lock);
        if (w->prev)
            w->prev->next = w->next;
        else
            s->open = w->next;
        if (w->next) w->next->prev = w->prev;
        pthread_mutex_unlock(&s->lock);
        free(w);
        *socket_context = NULL;
    }
}

/* A request answered: the connection's next headers have their own
 * deadline (an idle keep-alive connection ends there too). */
static void notify_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                             enum MHD_RequestTerminationCode toe) {
    sentinel_http_server_t *s = cls;
    if (s->completed) s->completed(s->cls, c, con_cls, toe);
    enter_phase(s, c, 0);
}

/* Headers complete at the handler's first call for a request: from then on
 * the request's own deadline, whatever the handler does with con_cls. */
static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls) {
    sentinel_http_server_t *s = cls;
    enter_phase(s, c, 1);
    return s->handler(s->cls, c, url, method, version, upload_data, upload_data_size, con_cls);
}

static void *sweep(void *arg) {
    sentinel_http_server_t *s = arg;
    while (!s->stopping) {
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
        double t = now_seconds();
        pthread_mutex_lock(&s->lock);
        for (watched_t *w = s->open; w; w = w->next) {
            if (w->cut || w->fd < 0 || t < w->deadline) continue;
            /* libmicrohttpd sees the connection end and closes it. */
            shutdown(w->fd, SHUT_RDWR);
            w->cut = 1;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

sentinel_http_server_t *sentinel_http_start(const char *what, const char *listen,
                                            const sentinel_http_limits_t *limits,
                                            MHD_AccessHandlerCallback handler,
                                            MHD_RequestCompletedCallback completed, void *cls,
                                            const char *cert_pem, const char *key_pem, char *errstr,
                                            size_t errstr_size) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) || !colon[1]) {
        snprintf(errstr, errstr_size, "%s %s: expected HOST:PORT", what, listen);
        return NULL;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:9400 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) {
        snprintf(errstr, errstr_size, "%s %s: %s", what, listen, gai_strerror(rc));
        return NULL;
    }
    sentinel_http_server_t *s = sentinel_calloc(1, sizeof(*s));
    if (limits) s->limits = *limits;
    if (!s->limits.threads) s->limits.threads = 2;
    if (!s->limits.connections) s->limits.connections = 512;
    if (!s->limits.per_address) s->limits.per_address = 32;
    if (!s->limits.header_seconds) s->limits.header_seconds = 5;
    if (!s->limits.request_seconds) s->limits.request_seconds = 30;
    if (!s->limits.header_bytes) s->limits.header_bytes = 32 * 1024;
    s->handler = handler;
    s->completed = completed;
    s->cls = cls;
    pthread_mutex_init(&s->lock, NULL);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (cert_pem ? MHD_USE_TLS : 0);
    /* The idle timeout (whole seconds) backs the deadlines up. */
    unsigned idle = s->limits.header_seconds > s->limits.request_seconds
                        ? s->limits.header_seconds
                        : s->limits.request_seconds;
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr},
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->limits.threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->limits.connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)s->limits.per_address, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->limits.header_bytes, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_connection, s},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)notify_completed, s},
        {cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, serve, s, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        snprintf(errstr, errstr_size, "%s %s: cannot listen there%s", what, listen,
                 cert_pem ? " (or the certificate and key do not load)" : "");
        sentinel_http_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    if (pthread_create(&s->sweeper, NULL, sweep, s)) {
        snprintf(errstr, errstr_size, "%s: cannot start a thread", what);
        sentinel_http_stop(s);
        return NULL;
    }
    s->sweeping = 1;
    return s;
}

int sentinel_http_port(const sentinel_http_server_t *s) { return s->port; }

void sentinel_http_quiesce(sentinel_http_server_t *s) {
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void sentinel_http_stop(sentinel_http_server_t *s) {
    if (!s) return;
    s->stopping = 1;
    if (s->sweeping) pthread_join(s->sweeper, NULL);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
