/* state.c -- the state a run shares between its reader and its
 * projections: whether to stop, how to wait, how to fail, and the requests
 * to read partitions again. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime.h"

int rt_stopping(const rt_runtime_t *rt) {
    return rt->halt || (rt->opt && rt->opt->stop && *rt->opt->stop);
}

int rt_bounded(const rt_runtime_t *rt) { return rt->n && rt->proj[0].run->stop_offsets; }

int rt_is_daemon(const rt_runtime_t *rt) {
    return rt->opt && !rt->opt->until_caught_up && !rt_bounded(rt);
}

void rt_backoff(const rt_runtime_t *rt, int attempt) {
    int ms = 100 << (attempt < 6 ? attempt : 6);
    if (ms > 5000) ms = 5000;
    for (int slept = 0; slept < ms && !rt_stopping(rt); slept += 50)
        usleep(50 * 1000);
}

void rt_wait_for(rt_runtime_t *rt, pthread_cond_t *cond, double seconds) {
    if (seconds > 0.1) seconds = 0.1;
    if (seconds <= 0) return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(seconds * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cond, &rt->lock, &until);
}

void rt_wait(rt_runtime_t *rt, pthread_cond_t *cond) { rt_wait_for(rt, cond, 0.1); }

void rt_fail(rt_runtime_t *rt, const char *fmt, ...) {
    pthread_mutex_lock(&rt->lock);
    if (!rt->fatal[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rt->fatal, sizeof(rt->fatal), fmt, ap);
        va_end(ap);
    }
    rt->halt = 1;
    pthread_cond_broadcast(&rt->more);
    pthread_cond_broadcast(&rt->room);
    pthread_mutex_unlock(&rt->lock);
}

void rt_ask_reload(rt_projection_t *pj, int32_t partition) {
    rt_runtime_t *rt = pj->rt;
    pthread_mutex_lock(&rt->lock);
    rt->parts[partition].reload = 1;
    rt->any_reload = 1;
    pthread_mutex_unlock(&rt->lock);
}

void rt_connection_lost(rt_runtime_t *rt) {
    for (int j = 0; j < rt->n; j++)
        if (rt->proj[j].run->start_offsets) return;
    pthread_mutex_lock(&rt->lock);
    for (int p = 0; p < RT_MAX_PARTITIONS; p++)
        rt->parts[p].reload = 1; /* rt_reload passes over those not assigned */
    rt->any_reload = 1;
    rt->lost++;
    pthread_mutex_unlock(&rt->lock);
}
