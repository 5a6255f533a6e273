/* statistics.c -- the run's young tables analyzed as they grow.
 *
 * PostgreSQL plans a projector's prepared statements, and the foreign key
 * checks of its writes, once per connection and keeps each plan until a
 * table it reads is next analyzed. A plan made on a nearly empty table can
 * take an index that reads a whole workspace for every key it looks up, and
 * autovacuum, which visits a database once a minute at best, comes too late
 * for a new deployment, a rebuild or a backfill. So one thread of the run,
 * on a connection of its own, asks the server every few seconds to analyze
 * those of the run's tables that hold four times the rows of their last
 * analysis (sentinel_analyze_grown, migration 0023); the plans that depend
 * on them are made again at their next use. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timestamp.h"
#include "pg/array.h"
#include "pg/db.h"
#include "runtime/runtime.h"

/* Seconds between two looks at the tables' growth. */
#define RT_ANALYZE_EVERY 2.0

static int statistics_stopping(const rt_runtime_t *rt) {
    return rt_stopping(rt) || __atomic_load_n(&rt->statistics_stop, __ATOMIC_RELAXED);
}

/* The literal of the run's tables ("{runs,findings,...}"), the runtime's
 * ledger of applied events last: owned. */
static char *run_tables(const rt_runtime_t *rt) {
    const sentinel_projector_t *set[RT_MAX_PROJECTIONS];
    for (int j = 0; j < rt->n; j++)
        set[j] = rt->proj[j].p;
    const char *tables[256];
    size_t n = sentinel_projectors_tables(set, (size_t)rt->n, tables, 255);
    tables[n++] = "applied_events";
    return sentinel_array_of(tables, n);
}

/* One look: analyze what grew. SENTINEL_ERR_FATAL when trying again cannot
 * help (a database not migrated has no such function). The first failure
 * of a run of them is a warning (a missing grant shows), the rest debug
 * lines; *failing counts them. */
static sentinel_err_t analyze_grown(const rt_runtime_t *rt, PGconn **pg, const char *tables,
                                    unsigned *failing) {
    char errstr[512];
    sentinel_err_t err = rt_connect(rt, pg, 0, errstr, sizeof(errstr));
    PGresult *res = NULL;
    const char *params[1] = {tables};
    if (!err)
        err = sentinel_db_params(*pg, "SELECT sentinel_analyze_grown($1::regclass[])", 1, params,
                                 &res, errstr, sizeof(errstr));
    if (err == SENTINEL_ERR_FATAL) {
        sentinel_warn("not analyzing the tables as they grow: %s", errstr);
        return err;
    }
    if (err) {
        if (!(*failing)++)
            sentinel_warn("analyzing the tables that grew: %s; trying again every %.0f s", errstr,
                          RT_ANALYZE_EVERY);
        else
            sentinel_debug("analyzing the tables that grew: %s", errstr);
        return err;
    }
    *failing = 0;
    for (int i = 0; i < PQntuples(res); i++)
        sentinel_debug("analyzed %s: four times the rows of its last statistics",
                       PQgetvalue(res, i, 0));
    PQclear(res);
    return SENTINEL_OK;
}

void *rt_statistics_main(void *arg) {
    rt_runtime_t *rt = arg;
    pthread_setname_np(pthread_self(), "analyze");
    char *tables = run_tables(rt);
    PGconn *pg = NULL;
    unsigned failing = 0;
    while (!statistics_stopping(rt)) {
        if (analyze_grown(rt, &pg, tables, &failing) == SENTINEL_ERR_FATAL) break;
        double until = sentinel_monotonic_seconds() + RT_ANALYZE_EVERY;
        while (!statistics_stopping(rt) && sentinel_monotonic_seconds() < until)
            usleep(50 * 1000);
    }
    if (pg) PQfinish(pg);
    free(tables);
    return NULL;
}
