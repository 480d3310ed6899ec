/*
 * The rebalancer's per-cycle pass over /proc, in C: the resident size of the processes due this cycle, and the stat
 * fields of the ones over the RSS threshold (or asked for by pid). Everything else about a process (allowed CPUs,
 * cgroup, numa_maps, the CPU sample ring) stays in TypeScript; so does the fallback of this same rule
 * (src/observe/proc-scan.ts).
 *
 * Why C, and why open files: on an emulated NUMA guest a JavaScript pass over /proc cost ~100 ms of CPU per cycle,
 * mostly Node's fs bindings and the interpreted loop, against ~37 ms for numad's whole cycle. There, opening,
 * reading and closing a /proc/<pid>/stat costs ~45 us; re-reading an already open /proc/<pid>/statm with pread
 * 4-13 us (docs/benchmarks.md). So the scanner keeps each process's statm open between cycles (up to a cap: each open
 * proc file holds a page of kernel memory for its seq_file buffer). A statm fd belongs to the process, not the pid
 * number: once the process is gone the read fails with ESRCH, and a new process that took the pid is opened afresh.
 *
 * The schedule (`every` = 4 from the caller):
 *   - a new pid, a pid in `always` (tracked processes, -p includes) and a process over the threshold: every scan;
 *   - a small process: every `every`-th scan, staggered by pid (one that grows is seen within `every` scans);
 *   - a process with no memory at all (a kernel thread or a zombie): every 2 x `every`-th scan;
 *   - the directory is listed again when loadavg's last pid changed (a process was created) and every `every`-th scan
 *     (processes that exited meanwhile are found by their failed reads).
 *
 * createScanner(procDir, maxOpen) -> scanner (an external; its files are closed when it is collected or closed)
 * scan(scanner, listAll, always, pageKiB, minMiB, every) -> [seen, selected, reads, stats, comms]
 *   listAll  true: every numeric entry of procDir (numad -S 1); false: only the `always` pids (-S 0)
 *   always   Int32Array, ascending
 *   A pid read this scan is selected when its statm reads and it is in `always` or floor(resident pages * pageKiB /
 *   1024) > minMiB, and its stat then reads too.
 *   seen     Int32Array, ascending: the processes known to exist (read now, or not due and not found gone)
 *   selected Int32Array, ascending; reads: files read (statm + stat)
 *   stats    Float64Array, 4 per selected pid: rss pages, utime + stime (ticks), threads, vsize (bytes)
 *   comms    string[], per selected pid: comm, everything between the first '(' and the last ')'
 * closeScanner(scanner) closes its files now.
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
  int32_t pid;
  int fd;       /* its statm, or -1 when not kept open (over the cap) */
  uint32_t due; /* the scan that reads it next; 0: the next one */
} slot;

typedef struct {
  DIR *dir; /* kept open and rewound for each listing: the listing is current after rewinddir */
  int dirFd;
  int loadavgFd; /* -1 when the tree has no loadavg (fixtures): then every scan lists */
  int64_t lastPid;
  uint32_t scans, listedAt;
  int listedAll; /* the slots come from a full listing (not from a -S 0 pid list) */
  slot *slots;   /* ascending by pid: the processes known after the last scan */
  size_t n, cap;
  size_t open, maxOpen;
} scanner;

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
 * statm's first two numbers: total program size and resident pages (the same count as stat's rss), in pages; -1
 * when malformed. A size of 0 is a kernel thread (never given an mm of its own) or a zombie.
 */
static int64_t parse_statm(const char *buf, size_t n, int64_t *size) {
  size_t i = 0;
  int64_t v = 0;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
  if (i == 0 || i >= n || buf[i] != ' ') return -1;
  *size = v;
  i++;
  v = 0;
  size_t start = i;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
  return i > start ? v : -1;
}

/*
 * The last pid handed out (the fifth field of loadavg), -1 if unknown. While it stays the same no process was created,
 * so the last listing minus the processes found gone is still the whole list: no need to read the directory again.
 */
static int64_t last_pid(scanner *s, char *buf) {
  if (s->loadavgFd < 0) return -1;
  ssize_t n;
  do n = pread(s->loadavgFd, buf, 255, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  const char *p = buf, *end = buf + n;
  for (int spaces = 0; p < end && spaces < 4; p++)
    if (*p == ' ') spaces++;
  int64_t v = 0;
  int digits = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) v = v * 10 + (*p - '0');
  return digits ? v : -1;
}

static int open_proc_file(int dirFd, int32_t pid, const char *file) {
  char name[32];
  snprintf(name, sizeof name, "%d/%s", (int)pid, file);
  return openat(dirFd, name, O_RDONLY | O_CLOEXEC);
}

/*
 * One read: procfs hands over the whole of a stat or statm at once, far shorter than the buffer, so a second read
 * to see EOF would only add system calls.
 */
static ssize_t pread_once(int fd, char *buf, size_t size) {
  ssize_t n;
  do n = pread(fd, buf, size, 0);
  while (n < 0 && errno == EINTR);
  return n;
}

static int read_stat(int dirFd, int32_t pid, char *buf, pstat *out) {
  int fd = open_proc_file(dirFd, pid, "stat");
  if (fd < 0) return -1;
  ssize_t n = pread_once(fd, buf, 4095);
  close(fd);
  return n > 0 ? parse_stat(buf, (size_t)n, out) : -1;
}

static void close_slot(scanner *s, slot *sl) {
  if (sl->fd >= 0) {
    close(sl->fd);
    sl->fd = -1;
    s->open--;
  }
}

/*
 * The resident pages of the process at sl->pid, keeping its statm open when under the cap; -1 when it is gone. A
 * failed read on a kept file means that process exited: the pid may already be a new process, so open it again.
 */
static int64_t read_resident(scanner *s, slot *sl, char *buf, uint32_t *reads, int64_t *size) {
  for (int attempt = 0; attempt < 2; attempt++) {
    int kept = sl->fd >= 0;
    int fd = kept ? sl->fd : open_proc_file(s->dirFd, sl->pid, "statm");
    if (fd < 0) return -1;
    if (!kept && s->open < s->maxOpen) {
      sl->fd = fd;
      s->open++;
      kept = 1;
    }
    (*reads)++;
    ssize_t n = pread_once(fd, buf, 255);
    if (!kept) close(fd);
    if (n > 0) return parse_statm(buf, (size_t)n, size);
    if (!kept || attempt > 0) {
      close_slot(s, sl);
      return -1;
    }
    close_slot(s, sl); /* a kept file of a process that is gone */
  }
  return -1;
}

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static void scanner_close(scanner *s) {
  for (size_t i = 0; i < s->n; i++) close_slot(s, &s->slots[i]);
  s->n = 0;
  if (s->dir) closedir(s->dir);
  s->dir = NULL;
  if (s->loadavgFd >= 0) close(s->loadavgFd);
  s->loadavgFd = -1;
}

static void scanner_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  scanner *s = data;
  scanner_close(s);
  free(s->slots);
  free(s);
}

static napi_value create_scanner(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2)
    return throw_error(env, "EINVAL", "createScanner: expected procDir and maxOpen");
  char procDir[4096];
  size_t len;
  uint32_t maxOpen;
  if (napi_get_value_string_utf8(env, argv[0], procDir, sizeof procDir, &len) != napi_ok || len >= sizeof procDir - 1 ||
      napi_get_value_uint32(env, argv[1], &maxOpen) != napi_ok)
    return throw_error(env, "EINVAL", "createScanner: procDir must be a string shorter than 4095 bytes, maxOpen a number");
  scanner *s = calloc(1, sizeof *s);
  if (!s) return throw_error(env, "ENOMEM", "createScanner: out of memory");
  s->dir = opendir(procDir);
  if (!s->dir) {
    free(s);
    /* An unreadable /proc is the caller's error to see, not an empty host. */
    return throw_error(env, "ENOENT", "createScanner: cannot open the proc directory");
  }
  s->dirFd = dirfd(s->dir);
  s->loadavgFd = openat(s->dirFd, "loadavg", O_RDONLY | O_CLOEXEC);
  s->maxOpen = maxOpen;
  napi_value ext;
  if (napi_create_external(env, s, scanner_finalize, NULL, &ext) != napi_ok) {
    scanner_finalize(env, s, NULL);
    return throw_error(env, "ENOMEM", "createScanner: cannot wrap the scanner");
  }
  return ext;
}

static scanner *get_scanner(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

static napi_value close_scanner(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  scanner *s;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !(s = get_scanner(env, argv[0])))
    return throw_error(env, "EINVAL", "closeScanner: expected a scanner");
  scanner_close(s);
  return NULL;
}

static int list_pids(scanner *s, ivec *out) {
  rewinddir(s->dir);
  struct dirent *e;
  errno = 0;
  while ((e = readdir(s->dir)) != NULL) {
    int32_t pid = pid_of_name(e->d_name);
    if (pid > 0 && ivec_push(out, pid) < 0) return -1;
  }
  if (errno) return -1;
  qsort(out->v, out->n, sizeof *out->v, cmp_i32);
  return 0;
}

/* A typed array holding a copy of n elements of `size` bytes each; NULL on failure. */
static napi_value typed_copy(napi_env env, napi_typedarray_type type, const void *v, size_t n, size_t size) {
  void *raw;
  napi_value buf, arr;
  if (napi_create_arraybuffer(env, n * size, &raw, &buf) != napi_ok) return NULL;
  if (n) memcpy(raw, v, n * size);
  if (napi_create_typedarray(env, type, n, buf, 0, &arr) != napi_ok) return NULL;
  return arr;
}

static napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  scanner *s;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6 || !(s = get_scanner(env, argv[0])))
    return throw_error(env, "EINVAL", "scan: expected a scanner and 5 arguments");
  if (!s->dir) return throw_error(env, "EBADF", "scan: the scanner is closed");
  bool listAll, isTyped;
  napi_typedarray_type type;
  size_t nAlways;
  void *rawAlways;
  uint32_t pageKiB, every;
  int64_t minMiB;
  if (napi_get_value_bool(env, argv[1], &listAll) != napi_ok || napi_is_typedarray(env, argv[2], &isTyped) != napi_ok || !isTyped ||
      napi_get_typedarray_info(env, argv[2], &type, &nAlways, &rawAlways, NULL, NULL) != napi_ok || type != napi_int32_array ||
      napi_get_value_uint32(env, argv[3], &pageKiB) != napi_ok || napi_get_value_int64(env, argv[4], &minMiB) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &every) != napi_ok || pageKiB == 0 || every == 0 || every > 1000)
    return throw_error(env, "EINVAL", "scan: listAll must be a boolean, always an Int32Array, pageKiB (> 0), minMiB and every (1-1000) numbers");
  const int32_t *always = rawAlways;
  uint32_t scanNo = ++s->scans;

  ivec listed = {0}, seen = {0}, selected = {0};
  slot *next = NULL;
  /* slots [0, kept) are this scan's; [done, n) not yet visited (both matter only if this scan stops half-way) */
  size_t kept = 0, done = 0;
  int visiting = 0;
  double *stats = NULL;
  napi_value result = NULL, comms;
  if (napi_create_array(env, &comms) != napi_ok) return NULL;
  char buf[4096];
  if (listAll) {
    /* Read the last pid before listing: a process created after the read makes the next scan list again. */
    int64_t lastPid = last_pid(s, buf);
    if (lastPid < 0 || lastPid != s->lastPid || !s->listedAll || scanNo - s->listedAt >= every) {
      if (list_pids(s, &listed) < 0) {
        throw_error(env, "EIO", "scan: cannot list the proc directory");
        goto out;
      }
      s->lastPid = lastPid;
      s->listedAt = scanNo;
    } else {
      for (size_t i = 0; i < s->n; i++)
        if (ivec_push(&listed, s->slots[i].pid) < 0) goto oom;
    }
  } else {
    for (size_t i = 0; i < nAlways; i++)
      if (ivec_push(&listed, always[i]) < 0) goto oom;
  }
  s->listedAll = listAll;

  /* Merge the last scan's slots with this listing: keep the files of pids still listed, close the others. */
  next = calloc(listed.n ? listed.n : 1, sizeof *next);
  if (!next) goto oom;
  size_t j = 0;
  for (size_t i = 0; i < listed.n; i++) {
    while (j < s->n && s->slots[j].pid < listed.v[i]) close_slot(s, &s->slots[j++]);
    next[i].pid = listed.v[i];
    next[i].fd = -1;
    next[i].due = 0;
    if (j < s->n && s->slots[j].pid == listed.v[i]) next[i] = s->slots[j++];
  }
  while (j < s->n) close_slot(s, &s->slots[j++]);
  free(s->slots);
  s->slots = next;
  s->n = s->cap = listed.n;
  next = NULL;

  uint32_t reads = 0;
  size_t statsCap = 0;
  visiting = 1;
  for (size_t i = 0; i < s->n; i++) {
    slot sl = s->slots[i];
    done = i + 1;
    int isAlways = contains(always, nAlways, sl.pid);
    if (!isAlways && sl.due > scanNo) {
      s->slots[kept++] = sl;
      if (ivec_push(&seen, sl.pid) < 0) goto oom;
      continue;
    }
    int firstRead = sl.due == 0;
    int64_t size = 0;
    int64_t resident = read_resident(s, &sl, buf, &reads, &size);
    if (resident < 0) continue; /* gone: normal, a process can exit at any time */
    int big = (int64_t)(((uint64_t)resident * pageKiB) / 1024) > minMiB;
    if (isAlways || big) sl.due = scanNo + 1;
    else if (size == 0) sl.due = scanNo + 2 * every; /* a kernel thread or a zombie: no memory to grow */
    else sl.due = scanNo + (firstRead ? 1 + (uint32_t)sl.pid % every : every);
    pstat st = {0};
    if (isAlways || big) {
      reads++;
      if (read_stat(s->dirFd, sl.pid, buf, &st) < 0) {
        close_slot(s, &sl);
        continue;
      }
    }
    s->slots[kept++] = sl;
    if (ivec_push(&seen, sl.pid) < 0) goto oom;
    if (!isAlways && !big) continue;
    size_t k = selected.n;
    if (ivec_push(&selected, sl.pid) < 0) goto oom;
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

  napi_value seenArr = typed_copy(env, napi_int32_array, seen.v, seen.n, sizeof(int32_t));
  napi_value selArr = typed_copy(env, napi_int32_array, selected.v, selected.n, sizeof(int32_t));
  napi_value statsArr = typed_copy(env, napi_float64_array, stats, selected.n * 4, sizeof(double)), readsV;
  if (!seenArr || !selArr || !statsArr || napi_create_uint32(env, reads, &readsV) != napi_ok ||
      napi_create_array_with_length(env, 5, &result) != napi_ok || napi_set_element(env, result, 0, seenArr) != napi_ok ||
      napi_set_element(env, result, 1, selArr) != napi_ok || napi_set_element(env, result, 2, readsV) != napi_ok ||
      napi_set_element(env, result, 3, statsArr) != napi_ok || napi_set_element(env, result, 4, comms) != napi_ok)
    result = NULL;
  goto out;
oom:
  throw_error(env, "ENOMEM", "scan: out of memory");
out:
  if (visiting) {
    while (done < s->n) s->slots[kept++] = s->slots[done++];
    s->n = kept;
  }
  free(next);
  free(listed.v);
  free(seen.v);
  free(selected.v);
  free(stats);
  return result;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"createScanner", create_scanner}, {"scan", scan}, {"closeScanner", close_scanner}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok)
      return NULL;
  }
  return exports;
}
