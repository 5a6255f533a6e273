/* generator.c -- deterministic, realistic event streams. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/timestamp.h"
#include "cli/generator.h"

#define RECENT_LINES 64

typedef struct gen {
    const sentinel_gen_options_t *opt;
    uint64_t s[4]; /* xoshiro256** state */
    int64_t now;   /* microseconds */
    int64_t step;  /* mean microseconds between events */
    FILE *out;
    sentinel_gen_stats_t stats;
    char *recent[RECENT_LINES];
    int failed;
} gen_t;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(gen_t *g) {
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double uniform(gen_t *g) { return (double)(next_u64(g) >> 11) / 9007199254740992.0; }
static int chance(gen_t *g, double p) { return uniform(g) < p; }
static long range(gen_t *g, long lo, long hi) {
    return lo + (long)(next_u64(g) % (uint64_t)(hi - lo + 1));
}

/* A new id: random (version 4), or, with time_ordered_ids, version 7 of RFC
 * 9562 minted at the stream's clock: 48 bits of Unix milliseconds, then
 * the microseconds within the millisecond in 12 bits (its method 3), then
 * random bits, so ids sort as they were made, as many producers now make
 * them. The same random draws either way. */
static void uuid(gen_t *g, char *out) {
    uint64_t a = next_u64(g), b = next_u64(g);
    if (g->opt->time_ordered_ids) {
        uint64_t ms = (uint64_t)(g->now / 1000), sub = (uint64_t)(g->now % 1000) * 4096 / 1000;
        a = (ms & 0xffffffffffffULL) << 16 | 0x7000ULL | sub; /* version 7 */
    } else {
        a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; /* version 4 */
    }
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; /* variant 1 */
    snprintf(out, SENTINEL_UUID_LEN + 1, "%08llx-%04llx-%04llx-%04llx-%012llx",
             (unsigned long long)(a >> 32), (unsigned long long)((a >> 16) & 0xffff),
             (unsigned long long)(a & 0xffff), (unsigned long long)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffULL));
}

static void workspace_id(int w, char *out) {
    snprintf(out, SENTINEL_UUID_LEN + 1, "a0000000-0000-4000-8000-%012d", w);
}
static void repository_id(int w, int r, char *out) {
    snprintf(out, SENTINEL_UUID_LEN + 1, "b0000000-0000-4000-8000-%06d%06d", w, r);
}
static void user_id(int u, char *out) {
    snprintf(out, SENTINEL_UUID_LEN + 1, "c0000000-0000-4000-8000-%012d", u);
}

static void timestamp(int64_t t, char *out) { sentinel_timestamp_format(t, out); }

/* Workspaces by a Zipf-like law (workspace 1 busiest), or concentrated on
 * the hot ones. */
static int pick_workspace(gen_t *g) {
    int n = g->opt->workspaces;
    if (g->opt->hot_workspaces > 0 && chance(g, 0.9))
        return 1 + (int)range(g, 0, (g->opt->hot_workspaces < n ? g->opt->hot_workspaces : n) - 1);
    double h = 0;
    for (int i = 1; i <= n; i++)
        h += 1.0 / i;
    double x = uniform(g) * h;
    for (int i = 1; i <= n; i++) {
        x -= 1.0 / i;
        if (x <= 0) return i;
    }
    return n;
}

static void remember(gen_t *g, const char *line) {
    int slot = (int)(g->stats.lines % RECENT_LINES);
    free(g->recent[slot]);
    g->recent[slot] = sentinel_strdup(line);
}

static void write_line(gen_t *g, const char *line) {
    if (g->stats.lines >= g->opt->events || g->failed) return;
    if (fputs(line, g->out) == EOF || fputc('\n', g->out) == EOF) g->failed = errno ? errno : EIO;
    g->stats.lines++;
}

static int full(const gen_t *g) { return g->stats.lines >= g->opt->events || g->failed; }

/* Invalid variants of a valid event: each breaks one rule. */
static void emit_invalid(gen_t *g, json_t *ev) {
    json_t *bad = json_deep_copy(ev);
    json_t *data = json_object_get(bad, "data");
    char *text = NULL;
    switch (range(g, 0, 6)) {
    case 0: json_object_set_new(data, "unexpected_field", json_true()); break;
    case 1: json_object_set_new(bad, "occurred_at", json_string("2026-11-26T10:15:00")); break;
    case 2: json_object_set_new(bad, "workspace_id", json_string("not-a-uuid")); break;
    case 3: json_object_set_new(bad, "type", json_string("RunExploded")); break;
    case 4: json_object_del(bad, "event_id"); break;
    case 5: json_object_set_new(bad, "data", json_string("oops")); break;
    default: text = sentinel_strdup("{\"event_id\": \"truncated"); break;
    }
    if (!text) text = json_dumps(bad, JSON_COMPACT);
    write_line(g, text);
    g->stats.invalid++;
    free(text);
    json_decref(bad);
}

/* Write one event; maybe follow it with a duplicate or an invalid line. */
static void emit(gen_t *g, const char *type, int w, json_t *data) {
    if (full(g)) {
        json_decref(data);
        return;
    }
    char id[SENTINEL_UUID_LEN + 1], ws[SENTINEL_UUID_LEN + 1], ts[SENTINEL_TIMESTAMP_MAX];
    g->now += 1 + (int64_t)(uniform(g) * 2 * (double)g->step);
    uuid(g, id);
    workspace_id(w, ws);
    timestamp(g->now, ts);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "event_id", id, "type", type,
                           "workspace_id", ws, "occurred_at", ts, "source", "github", "data", data);
    char *text = json_dumps(ev, JSON_COMPACT);
    write_line(g, text);
    remember(g, text);
    free(text);
    if (g->opt->duplicates > 0 && chance(g, g->opt->duplicates) && !full(g)) {
        int back = (int)range(g, 0, RECENT_LINES - 1);
        const char *again = g->recent[(g->stats.lines + (unsigned long)back) % RECENT_LINES];
        if (again) {
            write_line(g, again);
            g->stats.duplicates++;
        }
    }
    if (g->opt->invalid > 0 && chance(g, g->opt->invalid) && !full(g)) emit_invalid(g, ev);
    json_decref(ev);
}

static const char *const categories[] = {"security", "correctness",     "performance",
                                         "style",    "maintainability", "testing"};
static const char *const titles[] = {"SQL built from request parameters",
                                     "Possible null dereference",
                                     "Unbounded loop over input",
                                     "Secret committed to the repository",
                                     "Missing error check",
                                     "N+1 query in list endpoint",
                                     "Function exceeds complexity budget",
                                     "Unchecked array index",
                                     "Race on shared map",
                                     "Test asserts nothing"};
static const char *const files[] = {"src/api/handlers.ts",   "src/db/query.go",
                                    "lib/auth/session.rb",   "app/models/user.py",
                                    "internal/cache/lru.go", "web/components/Table.tsx"};

static void user_of(gen_t *g, int w, char *out) {
    int members = g->opt->workspaces;
    user_id(chance(g, 0.5) ? w : members + (int)range(g, 1, 3), out);
}

static void review(gen_t *g, int w) {
    char run[SENTINEL_UUID_LEN + 1], repo[SENTINEL_UUID_LEN + 1], ts[SENTINEL_TIMESTAMP_MAX];
    uuid(g, run);
    int orphan = g->opt->orphans > 0 && chance(g, g->opt->orphans);
    if (orphan)
        uuid(g, repo); /* a repository no one has */
    else
        repository_id(w, (int)range(g, 1, g->opt->repositories), repo);
    char ref[64];
    snprintf(ref, sizeof(ref), "org-%d/pull/%ld", w, range(g, 1, 5000));
    timestamp(g->now, ts);
    emit(g, "RunStarted", w,
         json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:i}, s:{s:s}}", "run_id", run, "repository_id",
                   repo, "external_reference", ref, "started_at", ts, "policy_snapshot",
                   "min_severity", "warning", "max_findings", 50, "metadata", "head_sha",
                   "9f2c1e"));
    if (orphan) g->stats.orphans++;
    int findings = (int)range(g, 0, 9), critical = 0;
    for (int i = 0; i < findings && !full(g); i++) {
        char fid[SENTINEL_UUID_LEN + 1], hash[32];
        uuid(g, fid);
        double p = uniform(g);
        const char *severity = p < 0.1 ? "critical" : p < 0.5 ? "warning" : "info";
        critical += p < 0.1;
        long start = range(g, 1, 800);
        snprintf(hash, sizeof(hash), "fh-%016llx", (unsigned long long)next_u64(g));
        emit(g, "FindingRecorded", w,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:{s:s}}",
                       "finding_id", fid, "run_id", run, "finding_hash", hash, "severity", severity,
                       "category", categories[range(g, 0, 5)], "title", titles[range(g, 0, 9)],
                       "description", "The change introduces a pattern that the policy flags.",
                       "file_path", files[range(g, 0, 5)], "line_start", (json_int_t)start,
                       "line_end", (json_int_t)(start + range(g, 0, 40)), "confidence",
                       floor(uniform(g) * 1000) / 1000, "metadata", "rule", "policy/default"));
        if (p < 0.5 && chance(g, 0.4)) {
            char aid[SENTINEL_UUID_LEN + 1], ext[32];
            uuid(g, aid);
            snprintf(ext, sizeof(ext), "PRRC_%llx", (unsigned long long)(next_u64(g) >> 20));
            emit(g, "AnnotationPosted", w,
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "annotation_id", aid, "finding_id", fid,
                           "provider", "github", "external_id", ext, "type", "review_comment"));
        }
    }
    if (chance(g, 0.95)) {
        double p = uniform(g);
        timestamp(g->now + 1000, ts);
        emit(g, "RunCompleted", w,
             json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "run_id", run, "status",
                       p < 0.85   ? "completed"
                       : p < 0.95 ? "failed"
                                  : "cancelled",
                       "completed_at", ts, "metrics", "findings", findings, "critical", critical));
    }
    emit(g, "UsageIncremented", w,
         json_pack("{s:s, s:i, s:s, s:s}", "metric", "runs", "amount", 1, "subject_type", "run",
                   "subject_id", run));
    if (findings)
        emit(g, "UsageIncremented", w,
             json_pack("{s:s, s:i}", "metric", "findings", "amount", findings));
    emit(g, "UsageIncremented", w,
         json_pack("{s:s, s:I}", "metric", "tokens", "amount", (json_int_t)range(g, 500, 20000)));
    char act[SENTINEL_UUID_LEN + 1];
    uuid(g, act);
    emit(g, "ActivityLogged", w,
         json_pack("{s:s, s:s, s:s, s:s, s:s}", "activity_id", act, "type", "run.completed",
                   "subject_type", "run", "subject_id", run, "description", "Review finished"));
}

static void command(gen_t *g, int w) {
    char cid[SENTINEL_UUID_LEN + 1], repo[SENTINEL_UUID_LEN + 1], ts[SENTINEL_TIMESTAMP_MAX];
    static const char *const types[] = {"explain", "review", "summarize", "ask", "fix"};
    uuid(g, cid);
    repository_id(w, (int)range(g, 1, g->opt->repositories), repo);
    long issue = range(g, 1, 3000);
    char ref[80];
    snprintf(ref, sizeof(ref), "org-%d/issues/%ld/comments/%llx", w, issue,
             (unsigned long long)(next_u64(g) >> 16));
    timestamp(g->now, ts);
    emit(g, "CommandRunStarted", w,
         json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s, s:s, s:{s:i}}", "command_run_id", cid,
                   "repository_id", repo, "external_reference", ref, "github_comment_id",
                   (json_int_t)range(g, 1000000000, 2000000000), "issue_number", (json_int_t)issue,
                   "is_pull_request", (int)chance(g, 0.7), "command_type", types[range(g, 0, 4)],
                   "query", "what does this change break?", "started_at", ts, "context_snapshot",
                   "files", (int)range(g, 1, 30)));
    double seconds = floor(uniform(g) * 60000) / 1000;
    timestamp(g->now + (int64_t)(seconds * 1e6), ts);
    emit(g, "CommandRunCompleted", w,
         json_pack("{s:s, s:s, s:s, s:f, s:{s:s}, s:{s:i}}", "command_run_id", cid, "status",
                   chance(g, 0.9) ? "completed" : "failed", "completed_at", ts, "duration_seconds",
                   seconds, "response", "text", "Here is what I found.", "metrics", "tokens",
                   (int)range(g, 200, 4000)));
    emit(g, "UsageIncremented", w, json_pack("{s:s, s:i}", "metric", "commands", "amount", 1));
    emit(g, "UsageIncremented", w,
         json_pack("{s:s, s:I}", "metric", "tokens", "amount", (json_int_t)range(g, 200, 4000)));
}

static void briefing(gen_t *g, int w) {
    char gid[SENTINEL_UUID_LEN + 1], bid[SENTINEL_UUID_LEN + 1], uid[SENTINEL_UUID_LEN + 1],
        ts[SENTINEL_TIMESTAMP_MAX];
    uuid(g, gid);
    snprintf(bid, sizeof(bid), "d0000000-0000-4000-8000-%012ld", range(g, 1, 3));
    user_of(g, w, uid);
    timestamp(g->now + 30LL * 86400 * 1000000, ts);
    emit(g, "BriefingRequested", w,
         json_pack("{s:s, s:s, s:s, s:{s:s}, s:s}", "generation_id", gid, "briefing_id", bid,
                   "generated_by_id", uid, "parameters", "period", "last_7_days", "expires_at",
                   ts));
    int steps = (int)range(g, 1, 3);
    for (int i = 1; i <= steps; i++)
        emit(g, "BriefingProgressed", w,
             json_pack("{s:s, s:i, s:s}", "generation_id", gid, "progress", i * 90 / steps,
                       "progress_message", "collecting findings"));
    int ok = chance(g, 0.85);
    timestamp(g->now, ts);
    if (ok)
        emit(g, "BriefingGenerated", w,
             json_pack("{s:s, s:s, s:s, s:{s:i}, s:[s], s:[{s:s}], s:{s:s}}", "generation_id", gid,
                       "completed_at", ts, "narrative", "A steady week with fewer criticals.",
                       "structured_data", "runs", (int)range(g, 1, 90), "achievements",
                       "no open criticals", "excerpts", "title", "Top finding", "output_paths",
                       "html", "briefings/generated.html"));
    else
        emit(g, "BriefingFailed", w,
             json_pack("{s:s, s:s, s:s}", "generation_id", gid, "error_message", "model timed out",
                       "failed_at", ts));
    if (chance(g, 0.05))
        emit(g, "BriefingProgressed", w,
             json_pack("{s:s, s:i}", "generation_id", gid, "progress", 95)); /* late */
    static const char *const formats[] = {"html", "pdf", "markdown", "slides"};
    static const char *const sources[] = {"dashboard", "share_link", "api", "email"};
    int downloads = ok ? (int)range(g, 0, 3) : 0;
    for (int i = 0; i < downloads; i++) {
        char did[SENTINEL_UUID_LEN + 1], ip[40];
        uuid(g, did);
        snprintf(ip, sizeof(ip), "198.51.100.%ld", range(g, 1, 254));
        const char *source = sources[range(g, 0, 3)];
        json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "download_id", did,
                                 "generation_id", gid, "format", formats[range(g, 0, 3)], "source",
                                 source, "ip_address", ip, "user_agent", "Mozilla/5.0");
        if (strcmp(source, "share_link")) {
            user_of(g, w, uid);
            json_object_set_new(data, "user_id", json_string(uid));
        }
        emit(g, "BriefingDownloaded", w, data);
    }
    emit(g, "UsageIncremented", w, json_pack("{s:s, s:i}", "metric", "briefings", "amount", 1));
    emit(g, "UsageIncremented", w,
         json_pack("{s:s, s:I}", "metric", "tokens", "amount", (json_int_t)range(g, 2000, 30000)));
}

static void activity(gen_t *g, int w) {
    static const char *const types[] = {"member.invited", "settings.updated", "repository.enabled",
                                        "policy.changed", "briefing.shared"};
    char aid[SENTINEL_UUID_LEN + 1], uid[SENTINEL_UUID_LEN + 1];
    uuid(g, aid);
    user_of(g, w, uid);
    emit(g, "ActivityLogged", w,
         json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "activity_id", aid, "user_id", uid, "type",
                   types[range(g, 0, 4)], "description", "Changed by a workspace admin", "metadata",
                   "via", "dashboard"));
}

void sentinel_gen_options_init(sentinel_gen_options_t *o) {
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->events = 10000;
    o->workspaces = 8;
    o->repositories = 4;
    o->start = 1790812800000000LL; /* 2026-10-01T00:00:00Z */
    o->days = 30;
}

sentinel_err_t sentinel_generate(const sentinel_gen_options_t *opt, FILE *out,
                                 sentinel_gen_stats_t *stats, char *errstr, size_t errstr_size) {
    if (opt->workspaces < 1 || opt->repositories < 1 || opt->days < 1) {
        snprintf(errstr, errstr_size, "workspaces, repositories and days must be at least 1");
        return SENTINEL_ERR_INVALID;
    }
    gen_t g = {.opt = opt, .out = out, .now = opt->start};
    uint64_t seed = opt->seed;
    for (int i = 0; i < 4; i++)
        g.s[i] = splitmix64(&seed);
    g.step = (int64_t)opt->days * 86400 * 1000000 / (int64_t)(opt->events ? opt->events : 1);
    if (g.step < 2) g.step = 2;
    while (!full(&g)) {
        int w = pick_workspace(&g);
        double p = uniform(&g);
        if (p < 0.5)
            review(&g, w);
        else if (p < 0.75)
            command(&g, w);
        else if (p < 0.85)
            briefing(&g, w);
        else
            activity(&g, w);
    }
    for (int i = 0; i < RECENT_LINES; i++)
        free(g.recent[i]);
    if (stats) *stats = g.stats;
    if (g.failed) {
        snprintf(errstr, errstr_size, "write: %s", strerror(g.failed));
        return SENTINEL_ERR_FATAL;
    }
    return SENTINEL_OK;
}
