/* Suite "snapfile" (issue 12), a binary of its own: margin_snapshot_write() with each step
 * of the atomic write failing in turn.
 *
 * The binary is linked with -Wl,--wrap=mkstemp,--wrap=write,--wrap=fsync,--wrap=close,
 * --wrap=rename,--wrap=open (Makefile.am), so the library's calls to those functions come
 * here; each wrapper passes the call through unless the test armed it for that step, and
 * then fails it with an errno of the test's choosing. The steps (docs/snapshot.md,
 * "Files"): the directory's open, mkstemp (the temporary file's open), write (a short
 * write, then a failure: a half-written temporary file), fsync of the file, close, rename
 * and the directory's final fsync. For every step:
 *  - the call returns MARGIN_EIO, and its message names the step and quotes the system's
 *    reason (strerror of the injected errno);
 *  - no temporary file is left in the directory;
 *  - the file holds the previous snapshot, whole, for every step up to the rename. After
 *    the rename (the directory's fsync failing) the new snapshot is already in place and
 *    cannot be taken back: the file then holds the new snapshot, whole, and the message
 *    says so. Either way the file loads.
 * And the calls that must succeed: a write interrupted (EINTR) before any byte, and writes
 * that take 100 bytes at a time, give the complete new file. Each injected failure is
 * counted, so a library that stopped calling the function would fail the test rather than
 * pass it untested. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "helpers.h"
#include "snapshot_util.h"

/* ------------------------------------------------------------------ the wrappers */

enum {
    F_NONE,
    F_MKSTEMP,
    F_WRITE,       /* half the bytes, then ENOSPC */
    F_FSYNC,
    F_CLOSE,       /* the descriptor is closed, the call reports EIO */
    F_RENAME,
    F_DIROPEN,
    F_DIRFSYNC,
    F_WRITE_EINTR, /* EINTR once, then success */
    F_WRITE_SHORT, /* at most 100 bytes a call */
    F_COUNT
};
static const char *const STEP_NAMES[F_COUNT] = {
    "none", "open (of the temporary file)", "write", "fsync", "close", "rename",
    "directory open", "directory fsync", "interrupted write", "short writes"};
/* the words the message must hold for each failing step */
static const char *const STEP_WORDS[F_COUNT] = {NULL,     "open",           "write",
                                                "fsync",  "close",          "rename",
                                                "directory open", "directory fsync"};
static const int STEP_ERRNO[F_COUNT] = {0, ENOSPC, ENOSPC, EIO, EIO, EXDEV, EACCES, EIO};

static int armed = F_NONE;
static int injected;      /* failures (or interruptions) injected */
static int tmp_fd = -1;   /* the descriptor mkstemp gave the library */
static int dir_fd = -1;   /* the descriptor of the directory it opened */
static size_t written;    /* bytes written to tmp_fd so far */

int __real_mkstemp(char *tmpl);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_close(int fd);
int __real_rename(const char *from, const char *to);
int __real_open(const char *path, int flags, ...);
int __wrap_mkstemp(char *tmpl);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_close(int fd);
int __wrap_rename(const char *from, const char *to);
int __wrap_open(const char *path, int flags, ...);

int __wrap_mkstemp(char *tmpl)
{
    if (armed == F_MKSTEMP) {
        injected++;
        errno = STEP_ERRNO[F_MKSTEMP];
        return -1;
    }
    tmp_fd = __real_mkstemp(tmpl);
    written = 0;
    return tmp_fd;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    ssize_t k;
    if (fd != tmp_fd || tmp_fd < 0)
        return __real_write(fd, buf, n);
    if (armed == F_WRITE && written > 0) {
        injected++;
        errno = STEP_ERRNO[F_WRITE];
        return -1;
    }
    if (armed == F_WRITE && n > 1)
        n /= 2; /* a short write first: the temporary file is half written */
    if (armed == F_WRITE_EINTR && written == 0 && injected == 0) {
        injected++;
        errno = EINTR;
        return -1;
    }
    if (armed == F_WRITE_SHORT && n > 100) {
        injected++;
        n = 100;
    }
    k = __real_write(fd, buf, n);
    if (k > 0)
        written += (size_t)k;
    return k;
}

int __wrap_fsync(int fd)
{
    if ((armed == F_FSYNC && fd == tmp_fd && tmp_fd >= 0) ||
        (armed == F_DIRFSYNC && fd == dir_fd && dir_fd >= 0)) {
        injected++;
        errno = STEP_ERRNO[armed];
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_close(int fd)
{
    int rc;
    if (fd >= 0 && fd == tmp_fd) {
        tmp_fd = -1;
        rc = __real_close(fd);
        if (armed == F_CLOSE) {
            injected++;
            errno = STEP_ERRNO[F_CLOSE];
            return -1; /* Linux closes the descriptor even when close reports an error */
        }
        return rc;
    }
    if (fd >= 0 && fd == dir_fd)
        dir_fd = -1;
    return __real_close(fd);
}

int __wrap_rename(const char *from, const char *to)
{
    if (armed == F_RENAME) {
        injected++;
        errno = STEP_ERRNO[F_RENAME];
        return -1;
    }
    return __real_rename(from, to);
}

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    int fd;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if ((flags & O_DIRECTORY) && armed == F_DIROPEN) {
        injected++;
        errno = STEP_ERRNO[F_DIROPEN];
        return -1;
    }
    fd = __real_open(path, flags, mode);
    if (flags & O_DIRECTORY)
        dir_fd = fd;
    return fd;
}

/* ------------------------------------------------------------------ helpers */

static char dir[4096], path[8192];

static void make_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/margin-snapfile-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/snap.bin", dir);
}

/* Entries of the directory other than snap.bin; their names into names. */
static int strays(char *names, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    names[0] = '\0';
    ck_assert(d != NULL);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, "snap.bin") == 0)
            continue;
        n++;
        if (strlen(names) + strlen(de->d_name) + 2 < size) {
            strcat(names, de->d_name);
            strcat(names, " ");
        }
    }
    closedir(d);
    return n;
}

static void remove_dir(void)
{
    char names[1024], p[8192];
    DIR *d = opendir(dir);
    struct dirent *de;
    (void)names;
    if (d != NULL) {
        while ((de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
                (void)remove(p);
            }
        closedir(d);
    }
    (void)rmdir(dir);
}

static uint8_t *slurp(size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    size_t cap = 1 << 20;
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    b = malloc(cap);
    ck_assert(b != NULL);
    *n = fread(b, 1, cap, f);
    ck_assert(*n < cap);
    fclose(f);
    return b;
}

/* Two different engines: the old snapshot and the new one. */
static margin_engine *engine_with(int steps)
{
    margin_engine *e = NULL;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    for (int i = 0; i < steps; i++) {
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1000 + i));
        ck_assert_ok(e, su_step(e, i));
    }
    return e;
}

/* ------------------------------------------------------------------ the tests */

START_TEST(test_step_fails)
{
    int step = _i;
    margin_engine *old_e = engine_with(40), *new_e = engine_with(SU_STEPS), *t = NULL;
    size_t on, nn, fn;
    uint8_t *old_b = su_save(old_e, &on), *new_b = su_save(new_e, &nn), *fb;
    char names[1024], reason[256];
    int rc;
    make_dir();
    ck_assert_ok(old_e, margin_snapshot_write(old_e, path)); /* the previous file */
    injected = 0;
    armed = step;
    rc = margin_snapshot_write(new_e, path);
    armed = F_NONE;
    ck_assert_msg(injected > 0, "step %s: the library never made that call", STEP_NAMES[step]);
    ck_assert_msg(rc == MARGIN_EIO, "step %s: status %d (%s)", STEP_NAMES[step], rc,
                  margin_errmsg(new_e));
    ck_assert_msg(strstr(margin_errmsg(new_e), STEP_WORDS[step]) != NULL,
                  "step %s: the message does not name it: %s", STEP_NAMES[step],
                  margin_errmsg(new_e));
    snprintf(reason, sizeof reason, "%s", strerror(STEP_ERRNO[step]));
    ck_assert_msg(strstr(margin_errmsg(new_e), reason) != NULL,
                  "step %s: the message does not give the reason '%s': %s", STEP_NAMES[step],
                  reason, margin_errmsg(new_e));
    ck_assert_msg(strays(names, sizeof names) == 0, "step %s: left behind: %s",
                  STEP_NAMES[step], names);
    fb = slurp(&fn);
    if (step != F_DIRFSYNC)
        ck_assert_msg(su_bytes_diff(fb, fn, old_b, on) < 0,
                      "step %s: the file is not the previous snapshot", STEP_NAMES[step]);
    else /* renamed already: the new snapshot, whole, and the message says so */
        ck_assert_msg(strstr(margin_errmsg(new_e), "new snapshot") != NULL, "%s",
                      margin_errmsg(new_e));
    if (step == F_DIRFSYNC)
        ck_assert_msg(su_bytes_diff(fb, fn, new_b, nn) < 0,
                      "step %s: the file is not the new snapshot (%zu bytes; the new one %zu, "
                      "the old one %zu): %s", STEP_NAMES[step], fn, nn, on,
                      margin_errmsg(new_e));
    ck_assert_int_eq(margin_engine_new(&t), MARGIN_OK);
    ck_assert_ok(t, margin_snapshot_read(t, path));
    /* and the engine writes normally afterwards */
    ck_assert_ok(new_e, margin_snapshot_write(new_e, path));
    free(fb);
    fb = slurp(&fn);
    ck_assert(su_bytes_diff(fb, fn, new_b, nn) < 0);
    ck_assert_msg(strays(names, sizeof names) == 0, "left behind: %s", names);
    free(fb);
    free(old_b);
    free(new_b);
    remove_dir();
    margin_engine_free(t);
    margin_engine_free(old_e);
    margin_engine_free(new_e);
}
END_TEST

START_TEST(test_write_retries)
{
    int step = _i == 0 ? F_WRITE_EINTR : F_WRITE_SHORT;
    margin_engine *old_e = engine_with(30), *new_e = engine_with(SU_STEPS);
    size_t nn, fn;
    uint8_t *new_b = su_save(new_e, &nn), *fb;
    char names[1024];
    make_dir();
    ck_assert_ok(old_e, margin_snapshot_write(old_e, path));
    injected = 0;
    armed = step;
    ck_assert_ok(new_e, margin_snapshot_write(new_e, path));
    armed = F_NONE;
    ck_assert_msg(injected > 0, "%s: nothing injected", STEP_NAMES[step]);
    fb = slurp(&fn);
    ck_assert_msg(su_bytes_diff(fb, fn, new_b, nn) < 0, "%s: the file is not the new snapshot",
                  STEP_NAMES[step]);
    ck_assert_msg(strays(names, sizeof names) == 0, "left behind: %s", names);
    free(fb);
    free(new_b);
    remove_dir();
    margin_engine_free(old_e);
    margin_engine_free(new_e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("snapfile");
    TCase *tc = tcase_create("failing_steps");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_step_fails, F_MKSTEMP, F_DIRFSYNC + 1);
    tcase_add_loop_test(tc, test_write_retries, 0, 2);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
