/* SPDX-License-Identifier: MIT */
/*
 * A master group on C-Raft (group.h): the members' configuration, Raft's
 * I/O on the master's loop, the state machine that hands committed entries
 * to the journal writer, snapshots as journal images, and the moments a
 * member starts and stops leading.
 */
#include "group/group.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <raft.h>
#include <raft/uv.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "group/catchup.h"
#include "group/transport.h"
#include "journal/batch.h"

/* How often the member looks at its Raft state (leadership won or lost). */
#define WATCH_MS 50
/* Entries between snapshots, and kept after one for followers just behind. */
#define SNAPSHOT_THRESHOLD 4096
#define SNAPSHOT_TRAILING 1024

struct group {
    uv_loop_t *loop;
    struct group_config config;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    struct journal *journal;
    struct jwriter *writer;
    void (*lead)(void *data);
    void *lead_data;
    uint64_t incarnation;
    char output_dir[4096];
    uv_timer_t watch;
    struct raft_barrier barrier;
    bool barrier_pending, leading, closing, closed;
    uint64_t stuck_members; /* unstick_emptied_members(): seen stuck last turn */
    /* The membership change in flight (raft allows one at a time). */
    struct raft_change change;
    bool changing, promoting;
    uint64_t change_id;
    void (*change_done)(void *arg, const char *error);
    void *change_arg;
    /* The newest leader's announcement (group_announce()). */
    uint64_t hint_id;
    char hint_addr[GROUP_ADDR_MAX];
    /* This leader's own announcement, and its entry's index: announced
     * again once a snapshot covers it, so that a member restored from the
     * snapshot learns the leader from the entries after it. */
    char announced[GROUP_ADDR_MAX];
    raft_index announce_index;
    /* Fetching the output files a restored snapshot lacks (catchup.h). */
    struct catchup *catchup;
    char *token;
};

/* ---- configuration --------------------------------------------------------- */

static int parse_id(const char *s, size_t len, uint64_t *id)
{
    char tmp[24];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (tmp[i] < '0' || tmp[i] > '9')
            return -1;
    errno = 0;
    unsigned long long v = strtoull(tmp, NULL, 10);
    if (errno || v == 0 || v > INT64_MAX) /* ids travel as signed 64-bit numbers */
        return -1;
    *id = v;
    return 0;
}

int group_parse(const char *spec, const char *self, struct group_config *c, char *err,
                size_t errlen)
{
    memset(c, 0, sizeof(*c));
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *at = memchr(p, '@', len);
        if (c->n == GROUP_MAX_MEMBERS) {
            snprintf(err, errlen, "--group: at most %d members", GROUP_MAX_MEMBERS);
            return -1;
        }
        struct group_member *m = &c->members[c->n];
        char host[GROUP_ADDR_MAX];
        int port;
        size_t alen = at ? len - (size_t)(at + 1 - p) : 0;
        if (!at || parse_id(p, (size_t)(at - p), &m->id) != 0 || alen == 0 ||
            alen >= sizeof(m->addr)) {
            snprintf(err, errlen, "--group: '%.*s' is not ID@HOST:PORT (ID a number from 1)",
                     (int)MIN(len, 200), p);
            return -1;
        }
        memcpy(m->addr, at + 1, alen);
        m->addr[alen] = '\0';
        if (addr_parse(m->addr, host, sizeof(host), &port) != 0) {
            snprintf(err, errlen, "--group: '%s' is not HOST:PORT", m->addr);
            return -1;
        }
        for (size_t i = 0; i < c->n; i++)
            if (c->members[i].id == m->id || !strcmp(c->members[i].addr, m->addr)) {
                snprintf(err, errlen, "--group: member %" PRIu64 "@%s is named twice", m->id,
                         m->addr);
                return -1;
            }
        c->n++;
        p = end ? end + 1 : NULL;
    }
    if (c->n == 0) {
        snprintf(err, errlen, "--group: no members (give ID@HOST:PORT,ID@HOST:PORT,...)");
        return -1;
    }
    if (!self || parse_id(self, strlen(self), &c->self) != 0) {
        snprintf(err, errlen, "--group-id: give this member's ID, one of those in --group");
        return -1;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->members[i].id == c->self)
            return 0;
    snprintf(err, errlen, "--group-id %" PRIu64 " is not a member of --group", c->self);
    return -1;
}

static const char *self_addr(const struct group_config *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->members[i].id == c->self)
            return c->members[i].addr;
    return NULL;
}

/* ---- leaving the leadership ------------------------------------------------ */

/*
 * A leader that lost the leadership runs its own program again, as a
 * follower: every connection drops (workers and clients go to the new
 * leader), every reply still waiting for its entry is dropped unsent, and
 * the new process starts from what is committed, as a restarted master
 * does. Nothing that was only proposed was ever told.
 */
static void start_over(const char *why)
{
    static char cmdline[65536];
    char *argv[1024];
    size_t n = 0, len = 0;
    log_warn("no longer the group's leader; starting over as a follower reason=%s", log_quote(why));
    fflush(NULL);
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r;
        while (len < sizeof(cmdline) - 1 &&
               (r = read(fd, cmdline + len, sizeof(cmdline) - 1 - len)) > 0)
            len += (size_t)r;
        close(fd);
    }
    cmdline[len] = '\0';
    for (size_t i = 0; i < len && n < 1023; i += strlen(cmdline + i) + 1)
        argv[n++] = cmdline + i;
    argv[n] = NULL;
    if (n)
        execv("/proc/self/exe", argv);
    log_error("cannot start over error=%s", log_quote(strerror(errno)));
    fprintf(stderr, "dtr master: no longer the group's leader, and cannot start over: %s\n",
            strerror(errno));
    _exit(1);
}

/* ---- the state machine ----------------------------------------------------- */

static void fatal(const char *what, const char *err)
{
    /* A member that cannot apply an entry must not skip it: its journal
     * would part from the others'. */
    log_error("%s error=%s", what, log_quote(err));
    fprintf(stderr, "dtr master: %s: %s\n", what, err);
    fflush(NULL);
    _exit(1);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct group *g = fsm->data;
    char err[512];
    *result = NULL;
    int rc = jwriter_apply_entry(g->writer, buf->base, buf->len, err, sizeof(err));
    if (rc < 0)
        fatal("cannot apply a group entry", err);
    if (rc == 1) { /* a leader's announcement: "ID HOST:PORT" */
        char *note = entry_note(buf->base, buf->len, err, sizeof(err));
        char *sp = note ? strchr(note, ' ') : NULL;
        uint64_t id;
        if (!sp || parse_id(note, (size_t)(sp - note), &id) != 0 ||
            strlen(sp + 1) >= sizeof(g->hint_addr)) {
            log_warn("ignored a damaged leader announcement");
        } else {
            g->hint_id = id;
            snprintf(g->hint_addr, sizeof(g->hint_addr), "%s", sp + 1);
            log_info("group leader member=%" PRIu64 " addr=%s", id, g->hint_addr);
        }
        free(note);
    }
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct group *g = fsm->data;
    char err[512];
    void *data;
    size_t len;
    /* The log before the snapshot goes: what its entries wrote to output
     * files must be on disk first. */
    int dfd = open(g->output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool synced = dfd >= 0 && syncfs(dfd) == 0;
    if (dfd >= 0)
        close(dfd);
    if (!synced) {
        snprintf(err, sizeof(err), "cannot sync %.300s: %s", g->output_dir, strerror(errno));
        log_warn("cannot take a group snapshot error=%s", log_quote(err));
        return RAFT_IOERR;
    }
    if (!jwriter_settle(g->writer, err, sizeof(err)) ||
        journal_image(g->journal, &data, &len, err, sizeof(err)) != 0) {
        log_warn("cannot take a group snapshot error=%s", log_quote(err));
        return RAFT_IOERR;
    }
    *bufs = raft_malloc(sizeof(**bufs));
    if (!*bufs) {
        free(data);
        return RAFT_NOMEM;
    }
    (*bufs)[0].base = data;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    log_debug("group snapshot bytes=%zu applied=%" PRIu64, len,
              (uint64_t)raft_last_applied(&g->raft));
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct group *g = fsm->data;
    char err[512];
    if (!jwriter_settle(g->writer, err, sizeof(err)) ||
        journal_restore_image(g->journal, buf->base, buf->len, err, sizeof(err)) != 0)
        fatal("cannot restore the journal from a group snapshot", err);
    log_info("journal restored from a group snapshot bytes=%zu", buf->len);
    raft_free(buf->base);
    /* The snapshot has the journal, not the output files its attempts
     * wrote: fetched from the leader in the background. */
    struct catchup_creds cr = {g->token, g->config.tls_cert, g->config.tls_key, g->config.tls_ca};
    catchup_free(g->catchup);
    g->catchup = catchup_start(g->journal, g->output_dir, &cr);
    catchup_leader(g->catchup, group_leader_hint(g));
    return 0;
}

/* ---- proposing ------------------------------------------------------------- */

struct proposal {
    struct raft_apply req;
    struct raft_buffer buf;
    struct group *group;
};

static void applied_cb(struct raft_apply *req, int status, void *result UNUSED)
{
    struct proposal *p = req->data;
    struct group *g = p->group;
    free(p);
    if (status != 0 && !g->closing) /* closing cancels what is in flight */
        start_over(raft_strerror(status));
}

/* jwriter's propose(): one batch, one entry. */
static int propose(void *data, void *entry, size_t len)
{
    struct group *g = data;
    struct proposal *p = xcalloc(1, sizeof(*p));
    p->req.data = p;
    p->group = g;
    p->buf.base = entry;
    p->buf.len = len;
    int rv = raft_apply(&g->raft, &p->req, &p->buf, 1, applied_cb);
    if (rv != 0) {
        free(entry);
        free(p);
        if (!g->closing)
            start_over(raft_strerror(rv));
    }
    return 0;
}

void group_announce(struct group *g, const char *client_addr)
{
    char note[GROUP_ADDR_MAX + 32];
    size_t len;
    snprintf(note, sizeof(note), "%" PRIu64 " %s", g->config.self, client_addr);
    if (client_addr != g->announced)
        snprintf(g->announced, sizeof(g->announced), "%s", client_addr);
    void *entry = entry_encode_note(ENTRY_LEADER, g->incarnation, note, &len);
    propose(g, entry, len);
    g->announce_index = raft_last_index(&g->raft);
}

/* ---- membership -------------------------------------------------------------- */

static void change_finished(struct group *g, const char *error)
{
    void (*done)(void *arg, const char *error) = g->change_done;
    void *arg = g->change_arg;
    g->changing = g->promoting = false;
    g->change_done = NULL;
    g->change_arg = NULL;
    if (error)
        log_warn("group membership change failed member=%" PRIu64 " error=%s", g->change_id,
                 log_quote(error));
    else
        log_info("group membership changed member=%" PRIu64, g->change_id);
    if (done)
        done(arg, error);
}

static void change_cb(struct raft_change *req, int status)
{
    struct group *g = req->data;
    if (status != 0) {
        change_finished(g, raft_strerror(status));
        return;
    }
    if (g->promoting) {
        /* Added as a spare: now it votes, once it has caught up with the log
         * (raft_assign() waits for that). */
        g->promoting = false;
        int rv = raft_assign(&g->raft, &g->change, g->change_id, RAFT_VOTER, change_cb);
        if (rv != 0)
            change_finished(g,
                            raft_errmsg(&g->raft)[0] ? raft_errmsg(&g->raft) : raft_strerror(rv));
        return;
    }
    change_finished(g, NULL);
}

int group_change(struct group *g, bool add, uint64_t id, const char *addr,
                 void (*done)(void *arg, const char *error), void *arg, char *err, size_t errlen)
{
    if (!g->leading) {
        snprintf(err, errlen, "this member does not lead the group");
        return -1;
    }
    if (g->changing) {
        snprintf(err, errlen, "another membership change is under way; try again when it ends");
        return -1;
    }
    g->change.data = g;
    int rv = add ? raft_add(&g->raft, &g->change, id, addr, change_cb)
                 : raft_remove(&g->raft, &g->change, id, change_cb);
    if (rv != 0) {
        snprintf(err, errlen, "%s",
                 raft_errmsg(&g->raft)[0] ? raft_errmsg(&g->raft) : raft_strerror(rv));
        return -1;
    }
    g->changing = true;
    g->promoting = add;
    g->change_id = id;
    g->change_done = done;
    g->change_arg = arg;
    log_info("group membership change op=%s member=%" PRIu64 " addr=%s", add ? "add" : "remove", id,
             add ? addr : "-");
    return 0;
}

void group_change_forget(struct group *g, void *arg)
{
    if (g && g->change_arg == arg) {
        g->change_done = NULL;
        g->change_arg = NULL;
    }
}

/* ---- winning and losing ---------------------------------------------------- */

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct group *g = req->data;
    char err[512];
    g->barrier_pending = false;
    if (status != 0 || g->leading || raft_state(&g->raft) != RAFT_LEADER)
        return; /* lost it meanwhile: the next win tries again */
    /* Every entry before ours is applied: once committed here too, the
     * journal is the group's, and the master may load it. */
    if (!jwriter_drain(g->writer, err, sizeof(err)))
        fatal("cannot commit the group's entries", err);
    g->leading = true;
    catchup_lead(g->catchup); /* the master owns the output files now */
    log_info("leading the group member=%" PRIu64 " term=%" PRIu64, g->config.self,
             (uint64_t)g->raft.current_term);
    g->lead(g->lead_data);
}

/*
 * A member brought back with an empty state dir has lost entries this
 * leader recorded as stored there (its match index). C-Raft 0.15 sends it a
 * snapshot, and then takes the member's answer, which reports less than
 * that match index, for a stale message: it waits in its snapshot state for
 * good and the member never gets another entry (a new leader would start
 * afresh). A member in the snapshot state whose match index is at or past
 * the snapshot sent can only be such a member; seen so on two watch turns
 * in a row, its match index is forgotten and it is probed from the
 * snapshot on, as Raft does with any follower. Lowering a match index only
 * delays commits, never hastens one.
 */
#define PROGRESS_PROBE 0 /* C-Raft's progress states (src/progress.h) */
#define PROGRESS_SNAPSHOT 2
static void unstick_emptied_members(struct group *g)
{
    struct raft_progress *progress = g->raft.leader_state.progress;
    uint64_t suspects = 0;
    for (unsigned i = 0; i < g->raft.configuration.n && i < 64; i++) {
        struct raft_progress *p = &progress[i];
        if (p->state != PROGRESS_SNAPSHOT || p->snapshot_index == 0 ||
            p->match_index < p->snapshot_index)
            continue;
        suspects |= 1ull << i;
        if (!(g->stuck_members & (1ull << i)))
            continue;
        log_warn("group member came back without entries it had stored; probing it again "
                 "member=%" PRIu64 " had=%" PRIu64 " snapshot=%" PRIu64,
                 (uint64_t)g->raft.configuration.servers[i].id, (uint64_t)p->match_index,
                 (uint64_t)p->snapshot_index);
        p->match_index = 0;
        p->next_index = p->snapshot_index + 1;
        p->snapshot_index = 0;
        p->state = PROGRESS_PROBE;
        suspects &= ~(1ull << i);
    }
    g->stuck_members = suspects;
}

static void watch_cb(uv_timer_t *h)
{
    struct group *g = h->data;
    int state = raft_state(&g->raft);
    char err[512];
    uint64_t done;
    /* A follower whose journal write failed (disk full) stops: its writer
     * drops every later batch, so it would go on voting and acking entries
     * its journal no longer has. (A leader stops in tasks.c.) */
    if (!g->leading && !jwriter_done(g->writer, &done, err, sizeof(err)))
        fatal("journal write failed", err);
    if (!g->leading)
        catchup_leader(g->catchup, group_leader_hint(g));
    if (g->leading && state == RAFT_LEADER)
        unstick_emptied_members(g);
    if (g->leading && state == RAFT_LEADER && g->announced[0] &&
        g->raft.log.snapshot.last_index >= g->announce_index)
        group_announce(g, g->announced);
    if (g->leading && state != RAFT_LEADER)
        start_over("a new leader was elected, or this one lost touch with the majority");
    if (!g->leading && !g->barrier_pending && state == RAFT_LEADER) {
        g->barrier.data = g;
        if (raft_barrier(&g->raft, &g->barrier, barrier_cb) == 0)
            g->barrier_pending = true;
    }
}

/* ---- start and stop -------------------------------------------------------- */

/*
 * A member's journal is the group's log applied: at every start it is
 * rebuilt from the log (a leader that lost the leadership may have
 * committed batches here that the group never did). With a snapshot, Raft
 * restores it from that (fsm_restore()); without one the whole log is
 * applied again, onto an empty journal. A state dir with no log yet but a
 * journal with tasks is a single master's: refused, not emptied.
 */
static int rebuild_journal(const char *dir, struct journal *j, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    bool has_log = false, has_snapshot = false;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        has_log = true;
        has_snapshot |= !strncmp(e->d_name, "snapshot-", 9);
    }
    if (d)
        closedir(d);
    uint64_t ntasks = 0, seq = 0;
    if (!has_log) {
        /* Its tasks, or a counter left by the prune of all of them. */
        if ((journal_count_tasks(j, &ntasks) == 0 && ntasks > 0) ||
            (journal_get_counter(j, "seq", &seq) == 0 && seq > 0)) {
            char held[48] = "";
            if (ntasks)
                snprintf(held, sizeof(held), " (%" PRIu64 " tasks)", ntasks);
            snprintf(err, errlen,
                     "the state dir holds the journal of a master that ran alone%s; a group "
                     "member starts from an empty state dir",
                     held);
            return -1;
        }
        return 0;
    }
    if (has_snapshot)
        return 0;
    if (journal_reset(j, err, errlen) != 0)
        return -1;
    log_info("journal emptied: the group's log is applied again");
    return 0;
}

struct group *group_start(uv_loop_t *loop, const struct group_config *c, const char *dir,
                          const char *output_dir, const char *token, struct journal *j,
                          struct jwriter *w, void (*lead)(void *data), void *data, char *err,
                          size_t errlen)
{
    struct group *g = xcalloc(1, sizeof(*g));
    struct raft_configuration conf;
    int rv;
    g->loop = loop;
    g->config = *c;
    snprintf(g->output_dir, sizeof(g->output_dir), "%s", output_dir);
    g->journal = j;
    g->writer = w;
    g->lead = lead;
    g->lead_data = data;
    randombytes_buf(&g->incarnation, sizeof(g->incarnation));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
        free(g);
        return NULL;
    }
    if (rebuild_journal(dir, j, err, errlen) != 0 || journal_replicated(j, err, errlen) != 0) {
        free(g);
        return NULL;
    }
    if (group_transport_init(&g->transport, loop, token, err, errlen) != 0) {
        free(g);
        return NULL;
    }
    group_transport_set_tls(&g->transport, c->tls);
    if ((rv = raft_uv_init(&g->io, loop, dir, &g->transport)) != 0) {
        snprintf(err, errlen, "cannot open the group's log in '%s': %s", dir,
                 g->io.errmsg[0] ? g->io.errmsg : raft_strerror(rv));
        group_transport_close(&g->transport);
        free(g);
        return NULL;
    }
    g->token = token ? xstrdup(token) : NULL; /* freed by group_stop() or below */
    g->fsm = (struct raft_fsm){.version = 1,
                               .data = g,
                               .apply = fsm_apply,
                               .snapshot = fsm_snapshot,
                               .restore = fsm_restore};
    if ((rv = raft_init(&g->raft, &g->io, &g->fsm, c->self, self_addr(c))) != 0) {
        snprintf(err, errlen, "cannot start Raft: %s", raft_errmsg(&g->raft));
        goto fail_io;
    }
    g->raft.data = g;
    /* Every member starts from the same configuration; one that has a log
     * already keeps it. A member joining a running group starts with none:
     * the leader sends it the group's (dtr group add). */
    raft_configuration_init(&conf);
    for (size_t i = 0; i < c->n; i++)
        raft_configuration_add(&conf, c->members[i].id, c->members[i].addr, RAFT_VOTER);
    rv = c->join ? 0 : raft_bootstrap(&g->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
        snprintf(err, errlen, "cannot start the group's log in '%s': %s", dir,
                 raft_errmsg(&g->raft));
        goto fail_raft;
    }
    /* DTR_GROUP_SNAPSHOT_EVERY=N: a snapshot every N entries (tests use a
     * small N to make a member catch up from a snapshot). */
    const char *every = getenv("DTR_GROUP_SNAPSHOT_EVERY");
    unsigned threshold = SNAPSHOT_THRESHOLD;
    if (every && atoi(every) >= 4 && atoi(every) <= 1000000)
        threshold = (unsigned)atoi(every);
    raft_set_snapshot_threshold(&g->raft, threshold);
    raft_set_snapshot_trailing(&g->raft, MIN(SNAPSHOT_TRAILING, threshold / 2));
    raft_set_pre_vote(&g->raft, true);
    jwriter_replicate(w, propose, g, g->incarnation);
    if ((rv = raft_start(&g->raft)) != 0) {
        snprintf(err, errlen, "cannot start the group member (listening on %s?): %s", self_addr(c),
                 g->io.errmsg[0] ? g->io.errmsg : raft_strerror(rv));
        goto fail_raft;
    }
    uv_timer_init(loop, &g->watch);
    g->watch.data = g;
    uv_timer_start(&g->watch, watch_cb, WATCH_MS, WATCH_MS);
    log_info("group member started member=%" PRIu64 " addr=%s members=%zu", c->self, self_addr(c),
             c->n);
    return g;

fail_raft:
    /* raft_init() succeeded: closing goes through the loop. */
    group_stop(g);
    return NULL;
fail_io:
    raft_uv_close(&g->io);
    group_transport_close(&g->transport);
    uv_run(loop, UV_RUN_NOWAIT);
    free(g->token);
    free(g);
    return NULL;
}

static void raft_closed_cb(struct raft *r)
{
    struct group *g = r->data;
    raft_uv_close(&g->io);
    group_transport_close(&g->transport);
    g->closed = true;
}

void group_close(struct group *g)
{
    if (!g || g->closing)
        return;
    g->closing = true;
    catchup_free(g->catchup); /* waits for its thread: at most a connect's timeout */
    g->catchup = NULL;
    if (g->watch.loop)
        uv_close((uv_handle_t *)&g->watch, NULL);
    raft_close(&g->raft, raft_closed_cb);
}

void group_stop(struct group *g)
{
    if (!g)
        return;
    group_close(g);
    while (!g->closed)
        uv_run(g->loop, UV_RUN_ONCE);
    uv_run(g->loop, UV_RUN_NOWAIT);
    free(g->token);
    free(g);
}

const char *group_leader_hint(const struct group *g)
{
    raft_id id;
    const char *addr;
    raft_leader((struct raft *)&g->raft, &id, &addr);
    return id && id == g->hint_id && g->hint_addr[0] ? g->hint_addr : NULL;
}

void group_status(const struct group *g, struct group_status *s)
{
    struct raft *r = (struct raft *)&g->raft;
    raft_id id;
    const char *addr;
    static const char *roles[] = {"unavailable", "follower", "candidate", "leader"};
    int state = raft_state(r);
    raft_leader(r, &id, &addr);
    s->self = g->config.self;
    s->leader = id;
    s->term = r->current_term;
    s->applied = raft_last_applied(r);
    s->commit = r->commit_index;
    s->role = state >= 0 && state <= RAFT_LEADER ? roles[state] : "unavailable";
}

const struct group_config *group_config(const struct group *g)
{
    return &g->config;
}

void group_json(const struct group *g, struct buf *b)
{
    struct raft *r = (struct raft *)&g->raft;
    struct group_status st;
    group_status(g, &st);
    raft_index last = raft_last_index(r);
    buf_addf(b,
             "{\"self\":%" PRIu64 ",\"leader\":%" PRIu64 ",\"term\":%" PRIu64
             ",\"applied\":%" PRIu64 ",\"members\":[",
             st.self, st.leader, st.term, st.applied);
    for (unsigned i = 0; i < r->configuration.n; i++) {
        const struct raft_server *sv = &r->configuration.servers[i];
        const char *role = sv->id == st.leader ? "leader" : "follower";
        buf_addf(b, "%s{\"id\":%" PRIu64 ",\"addr\":", i ? "," : "", (uint64_t)sv->id);
        buf_add_json_cstr(b, sv->address);
        buf_addf(b, ",\"role\":\"%s\"", role);
        /* Only the leader knows how far each member has the log. */
        if (st.role[0] == 'l' && r->leader_state.progress) {
            raft_index match = sv->id == st.self ? last : r->leader_state.progress[i].match_index;
            buf_addf(b, ",\"match\":%" PRIu64 ",\"lag\":%" PRIu64, (uint64_t)match,
                     (uint64_t)(last > match ? last - match : 0));
        }
        buf_addch(b, '}');
    }
    buf_addstr(b, "]}");
}
