/*
 * rmw.c - read-modify-write benchmark harness for RocksDB (C API).
 *
 * Runs the same deterministic account-update workload that the project's own
 * LSM store runs, so that the two can be compared on identical work:
 *
 *   - N operations over A accounts; the account of each operation is drawn
 *     from a Zipf(S) distribution (splitmix64 PRNG, seed 42), its amount is
 *     uniform in [0, 1e6).
 *   - Each operation reads the account's 200-byte record, updates it
 *     (count, sum, min, max, last timestamp, ring of the last 16 amounts) and
 *     writes it back.
 *   - Every C operations a checkpoint is taken (RocksDB checkpoint into a
 *     local folder, then copied into a "checkpoint store": everything for
 *     mode full, only new SST files plus metadata for mode incremental).
 *   - At the end the latest checkpoint is restored into a fresh folder,
 *     opened, and checked against an in-memory model; a digest of the whole
 *     state is computed and compared with reference values.
 *
 * Build:
 *   mkdir -p .build-rocksdb
 *   cc -O2 -std=c11 -Wall -Wextra -o .build-rocksdb/rmw \
 *      tools/rocksdb-rmw/rmw.c -lrocksdb -lm
 *
 * Output: progress on stderr, exactly one JSON line on stdout.
 * Exit codes: 0 ok, 1 runtime error, 2 bad arguments, 3 a check failed.
 */

#define _GNU_SOURCE /* nftw, dladdr, realpath, strdup, fsync ... */

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

/* ------------------------------------------------------------------------ */
/* Constants of the workload                                                */
/* ------------------------------------------------------------------------ */

enum {
    KEY_LEN = 8,          /* account id, big-endian uint64 */
    VALUE_LEN = 200,      /* record size */
    HEADER_LEN = 40,      /* five little-endian uint64 fields */
    SLOT_LEN = 10,        /* "%09u;" */
    SLOT_COUNT = 16,      /* amounts kept per record, oldest first */
};

#define BASE_TS 1700000000000ULL   /* timestamp of operation 0 */
#define TS_STEP 10ULL              /* timestamp step per operation */
#define ACCOUNT_MULT 48271ULL      /* rank -> account scrambling multiplier */
#define AMOUNT_MOD 1000000ULL      /* amounts are r2 mod this */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Reference values for A = 100000, S = 1.1 (N = 1,000,000 for the digest). */
static const uint64_t REF_FIRST_FIVE[5][2] = {
    {92312, 892291}, {93084, 255764}, {0, 989062}, {96542, 775908}, {86168, 668974},
};
static const uint64_t REF_DISTINCT[10] = {
    17028, 27168, 34875, 41069, 46515, 51125, 55191, 58888, 62073, 64851,
};
#define REF_STATE_BYTES 13489008ULL
#define REF_DIGEST 0xa53af4675986d035ULL
#define REF_COUNT_SUM 1000000ULL

/* ------------------------------------------------------------------------ */
/* Small utilities                                                          */
/* ------------------------------------------------------------------------ */

/* Print a message to stderr and exit with status 1 (runtime failure). */
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rmw: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Abort with a RocksDB error string if one was returned. */
static void check_rocks(char *err, const char *what) {
    if (err != NULL) {
        fprintf(stderr, "rmw: error: %s: %s\n", what, err);
        rocksdb_free(err);
        exit(1);
    }
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) die("out of memory (%zu bytes)", n);
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) die("out of memory");
    return p;
}

static char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (p == NULL) die("out of memory");
    return p;
}

/* snprintf into a freshly allocated string. */
static char *path_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die("path formatting failed");
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Monotonic clock in seconds. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Little-endian / big-endian helpers (byte by byte: host-order independent). */
static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static void put_be64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * (7 - i)));
}

/* FNV-1a 64 over a byte range, continuing from hash h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* ------------------------------------------------------------------------ */
/* PRNG and Zipf sampling                                                   */
/* ------------------------------------------------------------------------ */

/* splitmix64: the state advances by the golden-ratio constant per output. */
static uint64_t splitmix_next(uint64_t *s) {
    *s += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/*
 * cdf[k] for k = 1..A: normalised prefix sums of 1/j^S, summed in ascending
 * j. cdf[0] is unused (0). Prefix sums are computed first, then each is
 * divided by the total, so cdf[A] == 1.0 exactly.
 */
static double *zipf_table(uint64_t a, double s) {
    double *cdf = xmalloc((size_t)(a + 1) * sizeof(double));
    double acc = 0.0;
    cdf[0] = 0.0;
    for (uint64_t j = 1; j <= a; j++) {
        acc += 1.0 / pow((double)j, s);
        cdf[j] = acc;
    }
    const double total = acc;
    for (uint64_t k = 1; k <= a; k++) cdf[k] /= total;
    return cdf;
}

/* Smallest rank k in 1..A with cdf[k] > u; A if there is none. */
static uint64_t zipf_rank(const double *cdf, uint64_t a, double u) {
    uint64_t lo = 1, hi = a; /* answer lies in [lo, hi] */
    if (!(cdf[a] > u)) return a;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u) hi = mid; else lo = mid + 1;
    }
    return lo;
}

/* ------------------------------------------------------------------------ */
/* Record encoding                                                          */
/* ------------------------------------------------------------------------ */

/* Record of an account that has never been written. */
static void value_init(unsigned char *v) {
    memset(v, 0, HEADER_LEN);
    put_le64(v + 16, UINT64_MAX); /* min */
    for (int i = 0; i < SLOT_COUNT; i++) memcpy(v + HEADER_LEN + i * SLOT_LEN, "000000000;", SLOT_LEN);
}

/* Apply one operation (amount at timestamp ts) to record v in place. */
static void value_apply(unsigned char *v, uint64_t amount, uint64_t ts) {
    uint64_t count = get_le64(v), sum = get_le64(v + 8);
    uint64_t mn = get_le64(v + 16), mx = get_le64(v + 24);
    put_le64(v, count + 1);
    put_le64(v + 8, sum + amount);
    put_le64(v + 16, amount < mn ? amount : mn);
    put_le64(v + 24, amount > mx ? amount : mx);
    put_le64(v + 32, ts);
    /* Drop the oldest slot, append the new amount as "%09u;". */
    memmove(v + HEADER_LEN, v + HEADER_LEN + SLOT_LEN, (SLOT_COUNT - 1) * SLOT_LEN);
    unsigned char *slot = v + HEADER_LEN + (SLOT_COUNT - 1) * SLOT_LEN;
    uint64_t x = amount;
    for (int i = 8; i >= 0; i--) { slot[i] = (unsigned char)('0' + x % 10); x /= 10; }
    slot[9] = ';';
}

/* ------------------------------------------------------------------------ */
/* File system helpers                                                      */
/* ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "rmw: warning: cannot remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* rm -rf path (no error if it does not exist). Depth-first, no symlink following. */
static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return;
        die("stat %s: %s", path, strerror(errno));
    }
    if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) die("cannot remove %s", path);
}

/* mkdir -p path. */
static void mkdir_p(const char *path) {
    char *tmp = xstrdup(path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
    free(tmp);
}

/* fsync a directory so that entries created/removed in it are durable. */
static void fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) die("open dir %s: %s", path, strerror(errno));
    if (fsync(fd) != 0) die("fsync dir %s: %s", path, strerror(errno));
    close(fd);
}

/* Copy src to dst with read/write; optionally fsync dst. Returns bytes copied. */
static uint64_t copy_file(const char *src, const char *dst, bool do_fsync) {
    static unsigned char buf[1 << 20];
    int in = open(src, O_RDONLY);
    if (in < 0) die("open %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) die("create %s: %s", dst, strerror(errno));
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("read %s: %s", src, strerror(errno));
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR) continue;
                die("write %s: %s", dst, strerror(errno));
            }
            off += w;
        }
        total += (uint64_t)n;
    }
    if (do_fsync && fsync(out) != 0) die("fsync %s: %s", dst, strerror(errno));
    if (close(out) != 0) die("close %s: %s", dst, strerror(errno));
    close(in);
    return total;
}

/* ------------------------------------------------------------------------ */
/* A small set/list of file names                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    char **v;
    size_t n, cap;
} names_t;

static void names_add(names_t *s, const char *name) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = realloc(s->v, s->cap * sizeof(char *));
        if (s->v == NULL) die("out of memory");
    }
    s->v[s->n++] = xstrdup(name);
}

static bool names_has(const names_t *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return true;
    return false;
}

static void names_clear(names_t *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    s->n = 0;
}

static void names_free(names_t *s) {
    names_clear(s);
    free(s->v);
    s->v = NULL;
    s->cap = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files directly inside dir, sorted by name. */
static void list_files(const char *dir, names_t *out) {
    DIR *d = opendir(dir);
    if (d == NULL) die("opendir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *p = path_fmt("%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) die("stat %s: %s", p, strerror(errno));
        free(p);
        if (S_ISREG(st.st_mode)) names_add(out, e->d_name);
    }
    closedir(d);
    if (out->n > 1) qsort(out->v, out->n, sizeof(char *), cmp_str);
}

static bool is_sst(const char *name) {
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".sst") == 0;
}

/* ------------------------------------------------------------------------ */
/* Configuration and results                                                */
/* ------------------------------------------------------------------------ */

typedef enum { MODE_NONE, MODE_FULL, MODE_INCREMENTAL } mode_t_;
static const char *const MODE_NAMES[] = {"none", "full", "incremental"};

typedef struct {
    uint64_t accounts, ops, every, memtable_mb;
    double zipf;
    mode_t_ mode;
    bool universal, keep;
    const char *dir;
} config_t;

typedef struct {
    uint64_t id, at_op, bytes, files_copied, files_reused;
    double ms;
} checkpoint_stat_t;

/* State of the checkpoint store across checkpoints. */
typedef struct {
    char *store, *shared;   /* <dir>/store, <dir>/store/shared */
    names_t uploaded;       /* .sst names present in store/shared (incremental) */
    uint64_t last_id;       /* id of the retained checkpoint, 0 if none */
} store_t;

/* ------------------------------------------------------------------------ */
/* Checkpointing                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Take checkpoint `id` of db and upload it to the store; retain only it.
 * Fills st with the copy statistics (duration is measured by the caller).
 */
static void take_checkpoint(rocksdb_t *db, const config_t *cfg, store_t *store,
                            uint64_t id, checkpoint_stat_t *st) {
    char *err = NULL;
    char *tmp = path_fmt("%s/tmp-chk-%llu", cfg->dir, (unsigned long long)id);
    char *chk = path_fmt("%s/chk-%llu", store->store, (unsigned long long)id);
    rm_rf(tmp); /* RocksDB requires that the target does not exist */

    /* 1. Local checkpoint; log_size_for_flush = 0 forces a memtable flush. */
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(db, &err);
    check_rocks(err, "checkpoint_object_create");
    rocksdb_checkpoint_create(cp, tmp, 0, &err);
    check_rocks(err, "checkpoint_create");
    rocksdb_checkpoint_object_destroy(cp);

    /* 2. Copy into the store. */
    if (mkdir(chk, 0755) != 0) die("mkdir %s: %s", chk, strerror(errno));
    names_t files = {0}, ssts = {0};
    list_files(tmp, &files);
    bool touched_shared = false;
    for (size_t i = 0; i < files.n; i++) {
        const char *name = files.v[i];
        char *src = path_fmt("%s/%s", tmp, name);
        char *dst = NULL;
        if (is_sst(name) && cfg->mode == MODE_INCREMENTAL) {
            names_add(&ssts, name);
            if (names_has(&store->uploaded, name)) {
                st->files_reused++;
            } else {
                dst = path_fmt("%s/%s", store->shared, name);
                names_add(&store->uploaded, name);
                touched_shared = true;
            }
        } else {
            dst = path_fmt("%s/%s", chk, name);
        }
        if (dst != NULL) {
            st->bytes += copy_file(src, dst, true);
            st->files_copied++;
        }
        free(src);
        free(dst);
    }
    /* Incremental: the checkpoint's reference list of shared SST files. */
    if (cfg->mode == MODE_INCREMENTAL) {
        char *lp = path_fmt("%s/_files", chk);
        FILE *f = fopen(lp, "w");
        if (f == NULL) die("create %s: %s", lp, strerror(errno));
        for (size_t i = 0; i < ssts.n; i++) fprintf(f, "%s\n", ssts.v[i]);
        if (fflush(f) != 0 || fsync(fileno(f)) != 0) die("write %s: %s", lp, strerror(errno));
        fclose(f);
        free(lp);
    }
    if (touched_shared) fsync_dir(store->shared);
    fsync_dir(chk);
    fsync_dir(store->store);

    /* 3. Cleanup: local folder, previous checkpoint, unreferenced shared SSTs. */
    rm_rf(tmp);
    if (store->last_id != 0) {
        char *prev = path_fmt("%s/chk-%llu", store->store, (unsigned long long)store->last_id);
        rm_rf(prev);
        free(prev);
        fsync_dir(store->store);
    }
    if (cfg->mode == MODE_INCREMENTAL) {
        names_t keep = {0};
        bool removed = false;
        for (size_t i = 0; i < store->uploaded.n; i++) {
            const char *name = store->uploaded.v[i];
            if (names_has(&ssts, name)) {
                names_add(&keep, name);
            } else {
                char *p = path_fmt("%s/%s", store->shared, name);
                if (unlink(p) != 0) die("unlink %s: %s", p, strerror(errno));
                free(p);
                removed = true;
            }
        }
        names_free(&store->uploaded);
        store->uploaded = keep;
        if (removed) fsync_dir(store->shared);
    }
    store->last_id = id;

    names_free(&files);
    names_free(&ssts);
    free(tmp);
    free(chk);
}

/* Copy the retained checkpoint into `dest` (no fsync). Returns files copied. */
static uint64_t restore_checkpoint(const config_t *cfg, const store_t *store, const char *dest) {
    char *chk = path_fmt("%s/chk-%llu", store->store, (unsigned long long)store->last_id);
    mkdir_p(dest);
    uint64_t copied = 0;
    names_t files = {0};
    list_files(chk, &files);
    for (size_t i = 0; i < files.n; i++) {
        if (strcmp(files.v[i], "_files") == 0) continue;
        char *src = path_fmt("%s/%s", chk, files.v[i]);
        char *dst = path_fmt("%s/%s", dest, files.v[i]);
        copy_file(src, dst, false);
        copied++;
        free(src);
        free(dst);
    }
    names_free(&files);
    if (cfg->mode == MODE_INCREMENTAL) {
        char *lp = path_fmt("%s/_files", chk);
        FILE *f = fopen(lp, "r");
        if (f == NULL) die("open %s: %s", lp, strerror(errno));
        char line[PATH_MAX];
        while (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] == '\0') continue;
            char *src = path_fmt("%s/%s", store->shared, line);
            char *dst = path_fmt("%s/%s", dest, line);
            copy_file(src, dst, false);
            copied++;
            free(src);
            free(dst);
        }
        fclose(f);
        free(lp);
    }
    free(chk);
    return copied;
}

/* ------------------------------------------------------------------------ */
/* Read-back verification                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint64_t keys_found, mismatches, state_bytes, count_sum, digest;
} readback_t;

/*
 * Get every account 0..A-1 and compare its count with the model (model_count
 * of 0 means "never written"), then scan the whole DB in key order for the
 * digest.
 */
static void read_back(rocksdb_t *db, const config_t *cfg, const uint64_t *model_count,
                      readback_t *rb) {
    char *err = NULL;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    memset(rb, 0, sizeof *rb);
    unsigned char key[KEY_LEN];
    for (uint64_t acc = 0; acc < cfg->accounts; acc++) {
        put_be64(key, acc);
        size_t len = 0;
        char *val = rocksdb_get(db, ro, (const char *)key, KEY_LEN, &len, &err);
        check_rocks(err, "get (read-back)");
        if (val != NULL) {
            rb->keys_found++;
            if (len != VALUE_LEN || get_le64((const unsigned char *)val) != model_count[acc])
                rb->mismatches++;
            rocksdb_free(val);
        } else if (model_count[acc] != 0) {
            rb->mismatches++;
        }
    }

    uint64_t h = FNV_OFFSET;
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        h = fnv1a(h, k, kl);
        h = fnv1a(h, v, vl);
        rb->state_bytes += kl + vl;
        if (vl >= 8) rb->count_sum += get_le64((const unsigned char *)v);
    }
    rocksdb_iter_get_error(it, &err);
    check_rocks(err, "iterator");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rb->digest = h;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void usage_exit(const char *msg, const char *arg) {
    if (arg) fprintf(stderr, "rmw: %s: %s (see --help)\n", msg, arg);
    else fprintf(stderr, "rmw: %s (see --help)\n", msg);
    exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max) {
    if (s == NULL || !isdigit((unsigned char)s[0])) usage_exit("expected a non-negative integer for", opt);
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') usage_exit("invalid integer for", opt);
    if (v < min || v > max) {
        fprintf(stderr, "rmw: %s must be in [%llu, %llu], got %s\n", opt,
                (unsigned long long)min, (unsigned long long)max, s);
        exit(2);
    }
    return (uint64_t)v;
}

static void parse_args(int argc, char **argv, config_t *cfg) {
    *cfg = (config_t){.accounts = 100000, .ops = 1000000, .every = 100000, .zipf = 1.1,
                      .mode = MODE_INCREMENTAL, .memtable_mb = 4, .universal = false,
                      .keep = false, .dir = NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fprintf(stderr,
                    "usage: rmw --dir DIR [--accounts A] [--ops N] [--checkpoint-every C]\n"
                    "           [--zipf S] [--mode none|full|incremental] [--memtable-mb M]\n"
                    "           [--compaction leveled|universal] [--keep]\n");
            exit(0);
        }
        if (strcmp(a, "--keep") == 0) { cfg->keep = true; continue; }
        if (strncmp(a, "--", 2) != 0) usage_exit("unexpected argument", a);
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        bool known = true;
        if (strcmp(a, "--accounts") == 0) cfg->accounts = parse_u64(a, v, 1, 1ULL << 32);
        else if (strcmp(a, "--ops") == 0) cfg->ops = parse_u64(a, v, 0, 1ULL << 40);
        else if (strcmp(a, "--checkpoint-every") == 0) cfg->every = parse_u64(a, v, 1, UINT64_MAX);
        else if (strcmp(a, "--memtable-mb") == 0) cfg->memtable_mb = parse_u64(a, v, 1, 1 << 20);
        else if (strcmp(a, "--zipf") == 0) {
            if (v == NULL) usage_exit("missing value for", a);
            char *end = NULL;
            errno = 0;
            cfg->zipf = strtod(v, &end);
            if (errno != 0 || end == v || *end != '\0' || !isfinite(cfg->zipf) || cfg->zipf < 0)
                usage_exit("--zipf needs a finite number >= 0, got", v);
        } else if (strcmp(a, "--mode") == 0) {
            if (v == NULL) usage_exit("missing value for", a);
            if (strcmp(v, "none") == 0) cfg->mode = MODE_NONE;
            else if (strcmp(v, "full") == 0) cfg->mode = MODE_FULL;
            else if (strcmp(v, "incremental") == 0) cfg->mode = MODE_INCREMENTAL;
            else usage_exit("--mode must be none, full or incremental, got", v);
        } else if (strcmp(a, "--compaction") == 0) {
            if (v == NULL) usage_exit("missing value for", a);
            if (strcmp(v, "leveled") == 0) cfg->universal = false;
            else if (strcmp(v, "universal") == 0) cfg->universal = true;
            else usage_exit("--compaction must be leveled or universal, got", v);
        } else if (strcmp(a, "--dir") == 0) {
            if (v == NULL || v[0] == '\0') usage_exit("missing value for", a);
            cfg->dir = v;
        } else {
            known = false;
        }
        if (!known) usage_exit("unknown option", a);
        i++; /* consumed the value */
    }
    if (cfg->dir == NULL) usage_exit("--dir DIR is required", NULL);
    /* Guard the rm -rf: never the root or the current/parent directory. */
    char resolved[PATH_MAX];
    if (realpath(cfg->dir, resolved) != NULL &&
        (strcmp(resolved, "/") == 0 || strcmp(cfg->dir, ".") == 0 || strcmp(cfg->dir, "..") == 0))
        usage_exit("refusing to use (it would be deleted) --dir", cfg->dir);
}

/* ------------------------------------------------------------------------ */
/* Version of the linked RocksDB                                            */
/* ------------------------------------------------------------------------ */

/*
 * rocksdb/version.h is a C++ header and cannot be included from C, so the
 * version is read from the file name of the shared library actually loaded
 * (e.g. librocksdb.so.7.8 -> librocksdb.so.7.8.3 after resolving symlinks).
 */
static void rocksdb_version(char *out, size_t outlen) {
    snprintf(out, outlen, "unknown");
    Dl_info info;
    if (dladdr((void *)rocksdb_open, &info) == 0 || info.dli_fname == NULL) return;
    char real[PATH_MAX];
    if (realpath(info.dli_fname, real) == NULL) return;
    const char *p = strstr(real, ".so.");
    if (p == NULL) return;
    p += 4;
    int dots = 0;
    for (const char *q = p; *q; q++) {
        if (*q == '.') dots++;
        else if (!isdigit((unsigned char)*q)) return;
    }
    if (dots == 2 && strlen(p) < outlen) snprintf(out, outlen, "%s", p);
}

/* ------------------------------------------------------------------------ */
/* JSON helpers                                                             */
/* ------------------------------------------------------------------------ */

/* A double as JSON (null when not finite). */
static void json_num(const char *key, double x, bool comma) {
    if (isfinite(x)) printf("\"%s\":%.3f", key, x);
    else printf("\"%s\":null", key);
    if (comma) putchar(',');
}

/* Shortest "%.Ng" form of x that reads back as exactly x. */
static void fmt_double(char *out, size_t outlen, double x) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, x);
        if (strtod(out, NULL) == x) return;
    }
}

static const char *tri(int v) { return v < 0 ? "null" : (v ? "true" : "false"); }

/* ------------------------------------------------------------------------ */
/* Main                                                                     */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    config_t cfg;
    parse_args(argc, argv, &cfg);
    const uint64_t A = cfg.accounts, N = cfg.ops, C = cfg.every;

    char version[64];
    rocksdb_version(version, sizeof version);

    /* Fresh working directory. */
    rm_rf(cfg.dir);
    mkdir_p(cfg.dir);
    char *db_path = path_fmt("%s/db", cfg.dir);
    char *restored_path = path_fmt("%s/restored", cfg.dir);
    store_t store = {0};
    store.store = path_fmt("%s/store", cfg.dir);
    store.shared = path_fmt("%s/store/shared", cfg.dir);
    if (cfg.mode != MODE_NONE) {
        mkdir_p(store.shared);
        fsync_dir(store.store);
    }

    /* RocksDB options: defaults apart from what the comparison fixes. */
    char *err = NULL;
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_options_set_compression(opts, rocksdb_lz4_compression);
    rocksdb_options_set_write_buffer_size(opts, (size_t)(cfg.memtable_mb << 20));
    rocksdb_options_set_compaction_style(
        opts, cfg.universal ? rocksdb_universal_compaction : rocksdb_level_compaction);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(wo, 1);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();

    rocksdb_t *db = rocksdb_open(opts, db_path, &err);
    check_rocks(err, "open");

    /* Workload state and the in-memory model. */
    double *cdf = zipf_table(A, cfg.zipf);
    uint64_t *model_count = xcalloc((size_t)A, sizeof(uint64_t));
    unsigned char *seen = xcalloc((size_t)A, 1);
    uint64_t *chk_count = (cfg.mode != MODE_NONE) ? xcalloc((size_t)A, sizeof(uint64_t)) : NULL;
    uint64_t distinct = 0, chk_at_op = 0;

    size_t n_dist = (size_t)(N / 100000);
    uint64_t *dist = xcalloc(n_dist, sizeof(uint64_t));
    uint64_t first[5][2] = {{0}};
    size_t n_ck_max = (cfg.mode == MODE_NONE) ? 0 : (size_t)(N / C);
    checkpoint_stat_t *cks = xcalloc(n_ck_max, sizeof(checkpoint_stat_t));
    size_t n_ck = 0;

    uint64_t rng = 42;
    unsigned char key[KEY_LEN], val[VALUE_LEN];
    double get_s = 0, put_s = 0, ck_s = 0, harness_s = 0;

    fprintf(stderr, "rmw: rocksdb %s, A=%llu N=%llu C=%llu S=%g mode=%s memtable=%lluMiB %s dir=%s\n",
            version, (unsigned long long)A, (unsigned long long)N, (unsigned long long)C,
            cfg.zipf, MODE_NAMES[cfg.mode], (unsigned long long)cfg.memtable_mb,
            cfg.universal ? "universal" : "leveled", cfg.dir);

    const double loop_t0 = now_s();
    for (uint64_t i = 0; i < N; i++) {
        /* Draw the account (Zipf rank, scrambled) and the amount. */
        const uint64_t r1 = splitmix_next(&rng);
        const uint64_t r2 = splitmix_next(&rng);
        const double u = (double)(r1 >> 11) * 0x1.0p-53;
        const uint64_t rank = zipf_rank(cdf, A, u);
        const uint64_t acc = ((rank - 1) * ACCOUNT_MULT) % A;
        const uint64_t amount = r2 % AMOUNT_MOD;
        const uint64_t ts = BASE_TS + TS_STEP * i;
        if (i < 5) { first[i][0] = acc; first[i][1] = amount; }

        /* Read. */
        put_be64(key, acc);
        size_t len = 0;
        double t0 = now_s();
        char *old = rocksdb_get(db, ro, (const char *)key, KEY_LEN, &len, &err);
        if (old != NULL && len == VALUE_LEN) memcpy(val, old, VALUE_LEN);
        rocksdb_free(old);
        double t1 = now_s();
        get_s += t1 - t0;
        check_rocks(err, "get");
        if (old == NULL) value_init(val);
        else if (len != VALUE_LEN) die("account %llu has a %zu-byte value", (unsigned long long)acc, len);

        /* Modify, write. */
        value_apply(val, amount, ts);
        t0 = now_s();
        rocksdb_put(db, wo, (const char *)key, KEY_LEN, (const char *)val, VALUE_LEN, &err);
        t1 = now_s();
        put_s += t1 - t0;
        check_rocks(err, "put");

        /* Model. */
        model_count[acc]++;
        if (!seen[acc]) { seen[acc] = 1; distinct++; }
        const uint64_t done = i + 1;
        if (done % 100000 == 0) {
            dist[done / 100000 - 1] = distinct;
            fprintf(stderr, "rmw: %llu ops, %llu distinct accounts\n",
                    (unsigned long long)done, (unsigned long long)distinct);
        }

        /* Checkpoint. */
        if (cfg.mode != MODE_NONE && done % C == 0) {
            checkpoint_stat_t *st = &cks[n_ck];
            st->id = n_ck + 1;
            st->at_op = done;
            const double c0 = now_s();
            take_checkpoint(db, &cfg, &store, st->id, st);
            const double c1 = now_s();
            st->ms = (c1 - c0) * 1e3;
            ck_s += c1 - c0;
            n_ck++;
            /* Harness bookkeeping (not part of either measurement). */
            memcpy(chk_count, model_count, (size_t)A * sizeof(uint64_t));
            chk_at_op = done;
            harness_s += now_s() - c1;
            fprintf(stderr, "rmw: checkpoint %llu at op %llu: %.1f ms, %llu bytes, %llu copied, %llu reused\n",
                    (unsigned long long)st->id, (unsigned long long)st->at_op, st->ms,
                    (unsigned long long)st->bytes, (unsigned long long)st->files_copied,
                    (unsigned long long)st->files_reused);
        }
    }
    const double loop_s = now_s() - loop_t0;

    /* Restore + read-back. */
    readback_t rb = {0};
    bool have_rb = false;
    double restore_ms = NAN, read_ms = NAN;
    uint64_t state_op = 0; /* the operation count the read-back state reflects */
    if (cfg.mode == MODE_NONE) {
        const double r0 = now_s();
        read_back(db, &cfg, model_count, &rb);
        read_ms = (now_s() - r0) * 1e3;
        have_rb = true;
        state_op = N;
        rocksdb_close(db);
    } else {
        rocksdb_close(db);
        if (store.last_id == 0) {
            fprintf(stderr, "rmw: no checkpoint was taken (C > N); nothing to restore\n");
        } else {
            const double r0 = now_s();
            restore_checkpoint(&cfg, &store, restored_path);
            rocksdb_t *rdb = rocksdb_open(opts, restored_path, &err);
            check_rocks(err, "open restored");
            const double r1 = now_s();
            read_back(rdb, &cfg, chk_count, &rb);
            const double r2 = now_s();
            rocksdb_close(rdb);
            restore_ms = (r1 - r0) * 1e3;
            read_ms = (r2 - r1) * 1e3;
            have_rb = true;
            state_op = chk_at_op;
        }
    }
    if (have_rb)
        fprintf(stderr, "rmw: read-back: %llu keys, %llu mismatches, digest %016llx, %llu bytes\n",
                (unsigned long long)rb.keys_found, (unsigned long long)rb.mismatches,
                (unsigned long long)rb.digest, (unsigned long long)rb.state_bytes);

    /* Reference checks (-1 = not applicable, 0 = failed, 1 = passed). */
    int chk_first = -1, chk_dist = -1, chk_digest = -1;
    const bool ref_cfg = (A == 100000 && cfg.zipf == 1.1);
    if (ref_cfg && N >= 5) {
        chk_first = 1;
        for (int k = 0; k < 5; k++)
            if (first[k][0] != REF_FIRST_FIVE[k][0] || first[k][1] != REF_FIRST_FIVE[k][1]) chk_first = 0;
    }
    if (ref_cfg && n_dist > 0) {
        chk_dist = 1;
        for (size_t k = 0; k < n_dist && k < 10; k++)
            if (dist[k] != REF_DISTINCT[k]) chk_dist = 0;
    }
    if (ref_cfg && N == 1000000 && have_rb && state_op == 1000000) {
        chk_digest = (rb.digest == REF_DIGEST && rb.state_bytes == REF_STATE_BYTES &&
                      rb.count_sum == REF_COUNT_SUM) ? 1 : 0;
    }
    const char *pf[] = {"FAILED", "passed"};
    if (chk_first >= 0) fprintf(stderr, "rmw: reference check first_five: %s\n", pf[chk_first]);
    if (chk_dist >= 0) fprintf(stderr, "rmw: reference check distinct: %s\n", pf[chk_dist]);
    if (chk_digest >= 0) fprintf(stderr, "rmw: reference check digest: %s\n", pf[chk_digest]);
    if (have_rb && rb.mismatches != 0)
        fprintf(stderr, "rmw: read-back check FAILED: %llu mismatches\n", (unsigned long long)rb.mismatches);

    /* The single JSON line. */
    const double work_s = loop_s - ck_s - harness_s;
    char zipf_s[32];
    fmt_double(zipf_s, sizeof zipf_s, cfg.zipf);
    printf("{\"system\":\"rocksdb\",\"version\":\"%s\",\"accounts\":%llu,\"ops\":%llu,"
           "\"checkpoint_every\":%llu,\"zipf\":%s,\"mode\":\"%s\",\"memtable_mb\":%llu,"
           "\"compaction\":\"%s\",",
           version, (unsigned long long)A, (unsigned long long)N, (unsigned long long)C,
           zipf_s, MODE_NAMES[cfg.mode], (unsigned long long)cfg.memtable_mb,
           cfg.universal ? "universal" : "leveled");
    json_num("rmw_ops_per_s", work_s > 0 ? (double)N / work_s : NAN, true);
    json_num("get_per_s", get_s > 0 ? (double)N / get_s : NAN, true);
    json_num("put_per_s", put_s > 0 ? (double)N / put_s : NAN, true);
    printf("\"loop_seconds\":%.6f,\"checkpoint_seconds\":%.6f,\"checkpoints\":[", loop_s, ck_s);
    for (size_t k = 0; k < n_ck; k++)
        printf("%s{\"id\":%llu,\"at_op\":%llu,\"ms\":%.3f,\"bytes\":%llu,\"files_copied\":%llu,"
               "\"files_reused\":%llu}",
               k ? "," : "", (unsigned long long)cks[k].id, (unsigned long long)cks[k].at_op,
               cks[k].ms, (unsigned long long)cks[k].bytes, (unsigned long long)cks[k].files_copied,
               (unsigned long long)cks[k].files_reused);
    printf("],\"restore\":");
    if (have_rb) {
        printf("{");
        json_num("ms", restore_ms, true);
        json_num("read_ms", read_ms, true);
        printf("\"keys_found\":%llu,\"mismatches\":%llu,\"digest\":\"%016llx\",\"state_bytes\":%llu,"
               "\"count_sum\":%llu}",
               (unsigned long long)rb.keys_found, (unsigned long long)rb.mismatches,
               (unsigned long long)rb.digest, (unsigned long long)rb.state_bytes,
               (unsigned long long)rb.count_sum);
    } else {
        printf("null");
    }
    printf(",\"distinct_after_each_100k\":[");
    for (size_t k = 0; k < n_dist; k++) printf("%s%llu", k ? "," : "", (unsigned long long)dist[k]);
    printf("],\"first_five\":[");
    for (uint64_t k = 0; k < 5 && k < N; k++)
        printf("%s[%llu,%llu]", k ? "," : "", (unsigned long long)first[k][0],
               (unsigned long long)first[k][1]);
    printf("],\"reference_checks\":{\"first_five\":%s,\"distinct\":%s,\"digest\":%s}}\n",
           tri(chk_first), tri(chk_dist), tri(chk_digest));
    fflush(stdout);

    /* Cleanup. */
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_options_destroy(opts);
    if (!cfg.keep) rm_rf(cfg.dir);
    names_free(&store.uploaded);
    free(store.store);
    free(store.shared);
    free(db_path);
    free(restored_path);
    free(cdf);
    free(model_count);
    free(seen);
    free(chk_count);
    free(dist);
    free(cks);

    const bool failed = chk_first == 0 || chk_dist == 0 || chk_digest == 0 ||
                        (have_rb && rb.mismatches != 0);
    return failed ? 3 : 0;
}
