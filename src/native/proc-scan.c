/*
 * The rebalancer's per-cycle filter over /proc, in C: which processes are over the RSS threshold (or must be read
 * anyway). Everything else about a process (comm, CPU ticks, allowed CPUs, cgroup, numa_maps) stays in TypeScript.
 *
 * Why C: on an emulated NUMA guest a JavaScript pass over ~100 stat files cost ~100 ms of CPU per cycle, most of it
 * Node's fs bindings and the interpreted loop, against ~37 ms for numad's whole cycle over 300 files (docs/
 * benchmarks.md). The same open/read/close in C is ~70 us per file there. Stateless on purpose: the caller hands back
 * the pid list this returned last time, so the schedule (which small process is re-read when) is a pure function of
 * the arguments and the TypeScript fallback (src/observe/stat-filter.ts) implements the very same rule.
 *
 * scan(procDir, listAll, known, always, scanNo, every, pageKiB, minMiB) -> [seen, selected, reads, stats, comms]
 *   procDir  "/proc" or a fixture tree's proc directory
 *   listAll  true: list procDir's numeric entries (numad -S 1); false: only the `always` pids exist for us (-S 0)
 *   known    Int32Array, ascending: `seen` from the previous call (pids already read at least once)
 *   always   Int32Array, ascending: pids read every call and always selected when readable (tracked, -p includes)
 *   A pid is read when it is in `always`, not in `known`, or (pid + scanNo) % every == 0. It is selected when it was
 *   read and is in `always` or floor(rss pages * pageKiB / 1024) > minMiB.
 *   seen     Int32Array, ascending: the pids that exist as far as this call knows (listed and not found gone)
 *   selected Int32Array, ascending; reads: stat files opened
 *   stats    Float64Array, 4 per selected pid: rss pages, utime + stime (ticks), threads, vsize (bytes)
 *   comms    string[], per selected pid: comm, everything between the first '(' and the last ')'
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  int32_t *v;
  size_t n, cap;
} ivec;

static int ivec_push(ivec *a, int32_t x) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 1024;
    int32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return -1;
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = x;
  return 0;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static int contains(const int32_t *v, size_t n, int32_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x) lo = mid + 1;
    else if (v[mid] > x) hi = mid;
    else return 1;
  }
  return 0;
}

/* A /proc directory entry that is a pid: digits only, fits in int32. */
static int32_t pid_of_name(const char *s) {
  int64_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
    if (v > INT32_MAX) return -1;
  }
  return (int32_t)v;
}

typedef struct {
  uint64_t rssPages, cpuTicks, threads, vsizeBytes;
  const char *comm;
  size_t commLen;
} pstat;

/*
 * The fields we use of a stat line, counted from the last ')' so that a comm with spaces or parentheses cannot
 * shift them (numad stops at the first space). -1 when malformed.
 */
static int parse_stat(const char *buf, size_t n, pstat *out) {
  const char *open = memchr(buf, '(', n), *close = NULL;
  for (size_t i = n; i > 0; i--)
    if (buf[i - 1] == ')') {
      close = buf + i - 1;
      break;
    }
  if (!open || !close || close < open) return -1;
  out->comm = open + 1;
  out->commLen = (size_t)(close - open - 1);
  const char *p = close + 2, *end = buf + n;
  uint64_t f[25] = {0};
  for (int field = 3; field <= 24; field++) {
    int digits = 0;
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) v = v * 10 + (uint64_t)(*p - '0');
    int used = field == 14 || field == 15 || field == 20 || field == 23 || field == 24;
    if (used && !digits) return -1;
    f[field] = v;
    while (p < end && *p != ' ' && *p != '\n') p++; /* the state letter, a negative tpgid or nice */
    if (field < 24) {
      if (p >= end || *p != ' ') return -1;
      p++;
    }
  }
  out->cpuTicks = f[14] + f[15];
  out->threads = f[20];
  out->vsizeBytes = f[23];
  out->rssPages = f[24];
  return 0;
}

/*
 * -1: gone or unreadable (normal: a process can exit between listing and reading). buf: 4096 bytes. One read: a
 * stat line is far shorter than the buffer and procfs hands over all of it at once (a second read to see EOF would
 * be a quarter of the scan's system calls). Relative to the proc directory's fd: two fewer path components to walk.
 */
static int read_stat(int procFd, int32_t pid, char *buf, pstat *out) {
  char name[24];
  snprintf(name, sizeof name, "%d/stat", (int)pid);
  int fd = openat(procFd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n;
  do n = read(fd, buf, 4095);
  while (n < 0 && errno == EINTR);
  close(fd);
  return n > 0 ? parse_stat(buf, (size_t)n, out) : -1;
}

static int list_pids(const char *procDir, ivec *out) {
  DIR *d = opendir(procDir);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int32_t pid = pid_of_name(e->d_name);
    if (pid > 0 && ivec_push(out, pid) < 0) {
      closedir(d);
      return -1;
    }
  }
  closedir(d);
  qsort(out->v, out->n, sizeof *out->v, cmp_i32);
  return 0;
}

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_i32_array(napi_env env, napi_value v, const int32_t **data, size_t *n) {
  bool is;
  napi_typedarray_type type;
  void *raw;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  if (napi_get_typedarray_info(env, v, &type, n, &raw, NULL, NULL) != napi_ok || type != napi_int32_array) return -1;
  *data = raw;
  return 0;
}

static napi_value to_i32_array(napi_env env, const int32_t *v, size_t n) {
  void *raw;
  napi_value buf, arr;
  if (napi_create_arraybuffer(env, n * sizeof *v, &raw, &buf) != napi_ok) return NULL;
  if (n) memcpy(raw, v, n * sizeof *v);
  if (napi_create_typedarray(env, napi_int32_array, n, buf, 0, &arr) != napi_ok) return NULL;
  return arr;
}

static napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8)
    return throw_error(env, "EINVAL", "scan: expected 8 arguments");
  char procDir[4096];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], procDir, sizeof procDir, &len) != napi_ok || len >= sizeof procDir - 1)
    return throw_error(env, "EINVAL", "scan: procDir must be a string shorter than 4095 bytes");
  bool listAll;
  if (napi_get_value_bool(env, argv[1], &listAll) != napi_ok) return throw_error(env, "EINVAL", "scan: listAll must be a boolean");
  const int32_t *known, *always;
  size_t nKnown, nAlways;
  if (get_i32_array(env, argv[2], &known, &nKnown) < 0 || get_i32_array(env, argv[3], &always, &nAlways) < 0)
    return throw_error(env, "EINVAL", "scan: known and always must be Int32Arrays");
  uint32_t scanNo, every, pageKiB;
  int64_t minMiB;
  if (napi_get_value_uint32(env, argv[4], &scanNo) != napi_ok || napi_get_value_uint32(env, argv[5], &every) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &pageKiB) != napi_ok || napi_get_value_int64(env, argv[7], &minMiB) != napi_ok ||
      every == 0 || pageKiB == 0)
    return throw_error(env, "EINVAL", "scan: scanNo, every (> 0), pageKiB (> 0) and minMiB must be numbers");

  ivec listed = {0}, seen = {0}, selected = {0};
  int procFd = -1;
  double *stats = NULL;
  size_t statsCap = 0;
  napi_value result = NULL, comms = NULL;
  if (napi_create_array(env, &comms) != napi_ok) return NULL;
  if (listAll) {
    if (list_pids(procDir, &listed) < 0) {
      /* An unreadable /proc is the caller's error to see, not an empty host. */
      throw_error(env, "ENOENT", "scan: cannot list the proc directory");
      goto out;
    }
  } else {
    for (size_t i = 0; i < nAlways; i++)
      if (ivec_push(&listed, always[i]) < 0) goto oom;
  }
  uint32_t reads = 0;
  char buf[4096];
  procFd = open(procDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procFd < 0) {
    throw_error(env, "ENOENT", "scan: cannot open the proc directory");
    goto out;
  }
  for (size_t i = 0; i < listed.n; i++) {
    int32_t pid = listed.v[i];
    int isAlways = contains(always, nAlways, pid);
    int due = isAlways || !contains(known, nKnown, pid) || ((uint64_t)pid + scanNo) % every == 0;
    if (!due) {
      if (ivec_push(&seen, pid) < 0) goto oom;
      continue;
    }
    reads++;
    pstat st;
    if (read_stat(procFd, pid, buf, &st) < 0) continue;
    if (ivec_push(&seen, pid) < 0) goto oom;
    if (!isAlways && (int64_t)((st.rssPages * pageKiB) / 1024) <= minMiB) continue;
    size_t k = selected.n;
    if (ivec_push(&selected, pid) < 0) goto oom;
    if (statsCap < selected.n * 4) {
      size_t cap = statsCap ? statsCap * 2 : 256;
      double *grown = realloc(stats, cap * sizeof *stats);
      if (!grown) goto oom;
      stats = grown;
      statsCap = cap;
    }
    stats[k * 4] = (double)st.rssPages;
    stats[k * 4 + 1] = (double)st.cpuTicks;
    stats[k * 4 + 2] = (double)st.threads;
    stats[k * 4 + 3] = (double)st.vsizeBytes;
    napi_value comm;
    if (napi_create_string_utf8(env, st.comm, st.commLen, &comm) != napi_ok || napi_set_element(env, comms, (uint32_t)k, comm) != napi_ok) goto out;
  }
  napi_value seenArr = to_i32_array(env, seen.v, seen.n), selArr = to_i32_array(env, selected.v, selected.n), readsV, statsArr = NULL;
  void *statsRaw;
  napi_value statsBuf;
  if (napi_create_arraybuffer(env, selected.n * 4 * sizeof(double), &statsRaw, &statsBuf) == napi_ok) {
    if (selected.n) memcpy(statsRaw, stats, selected.n * 4 * sizeof(double));
    if (napi_create_typedarray(env, napi_float64_array, selected.n * 4, statsBuf, 0, &statsArr) != napi_ok) statsArr = NULL;
  }
  if (!seenArr || !selArr || !statsArr || napi_create_uint32(env, reads, &readsV) != napi_ok ||
      napi_create_array_with_length(env, 5, &result) != napi_ok || napi_set_element(env, result, 0, seenArr) != napi_ok ||
      napi_set_element(env, result, 1, selArr) != napi_ok || napi_set_element(env, result, 2, readsV) != napi_ok ||
      napi_set_element(env, result, 3, statsArr) != napi_ok || napi_set_element(env, result, 4, comms) != napi_ok)
    result = NULL;
  goto out;
oom:
  throw_error(env, "ENOMEM", "scan: out of memory");
out:
  if (procFd >= 0) close(procFd);
  free(listed.v);
  free(seen.v);
  free(selected.v);
  free(stats);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "scan", fn) != napi_ok) return NULL;
  return exports;
}
