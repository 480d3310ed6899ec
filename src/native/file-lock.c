/*
 * file-lock — flock(2) for Node.js, which has no binding for it. The daemon holds an exclusive lock on its state
 * directory's lock file for its whole life (one daemon per state dir: the kernel drops the lock when the process
 * dies, however it dies), and the `numad -w` local fallback serialises its read-answer-record step on the spool
 * file with it. Built by `make build` beside proc-scan.node.
 *
 *   flock(fd, exclusive, wait) -> true when taken, false when another holder has it (EWOULDBLOCK, only without wait)
 *   unlock(fd)
 * Any other failure throws an Error whose code is the errno name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *code = err == EBADF ? "EBADF" : err == EINTR ? "EINTR" : err == ENOLCK ? "ENOLCK" : err == EINVAL ? "EINVAL" : "EIO";
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return 0;
  }
  return 1;
}

static napi_value js_flock(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t fd;
  bool exclusive, wait;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_bool(env, argv[1], &exclusive) != napi_ok ||
      napi_get_value_bool(env, argv[2], &wait) != napi_ok) {
    napi_throw_type_error(env, NULL, "flock(fd: number, exclusive: boolean, wait: boolean)");
    return NULL;
  }
  int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  int r;
  do r = flock(fd, op);
  while (r < 0 && errno == EINTR);
  napi_value out;
  if (r == 0) {
    napi_get_boolean(env, true, &out);
    return out;
  }
  if (errno == EWOULDBLOCK) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  return throw_errno(env, errno, "flock");
}

static napi_value js_unlock(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "unlock(fd: number)");
    return NULL;
  }
  if (flock(fd, LOCK_UN) < 0) return throw_errno(env, errno, "flock(LOCK_UN)");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "flock", NAPI_AUTO_LENGTH, js_flock, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "flock", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "unlock", NAPI_AUTO_LENGTH, js_unlock, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "unlock", fn) != napi_ok)
    return NULL;
  return exports;
}
