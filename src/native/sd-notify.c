/*
 * sd-notify — systemd's readiness protocol for Node.js, which cannot send a datagram on a unix socket. A service of
 * Type=notify tells systemd it is ready by sending "READY=1" (and later "RELOADING=1", "STOPPING=1", "STATUS=…")
 * as one datagram to the socket named in $NOTIFY_SOCKET: a path, or an abstract name written with a leading '@'
 * (sd_notify(3)). This is that send, without libsystemd. Built by `make build` beside file-lock.node.
 *
 *   notify(socketPath, state) -> undefined once the datagram is sent
 * The caller reads $NOTIFY_SOCKET (and does nothing without it). A failure throws an Error whose code is the errno
 * name (ENOENT, ECONNREFUSED, EACCES, EINVAL, …; EIO for any other).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *code = err == ENOENT ? "ENOENT" : err == ECONNREFUSED ? "ECONNREFUSED" : err == EACCES ? "EACCES" : err == EPERM ? "EPERM"
                   : err == EINVAL ? "EINVAL" : err == ENAMETOOLONG ? "ENAMETOOLONG" : err == EAGAIN ? "EAGAIN" : "EIO";
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value js_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char state[4096];
  size_t path_len = 0, state_len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], state, sizeof state, &state_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "notify(socketPath: string, state: string)");
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  /* The buffer holds one byte more than sun_path: a name that filled it was cut, so it is too long. */
  if (path_len == 0 || path_len >= sizeof addr.sun_path) return throw_errno(env, path_len == 0 ? EINVAL : ENAMETOOLONG, "NOTIFY_SOCKET");
  if (state_len + 1 >= sizeof state) return throw_errno(env, EINVAL, "notify state");
  memcpy(addr.sun_path, path, path_len);
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
  if (path[0] == '@') addr.sun_path[0] = '\0'; /* abstract namespace: no terminating NUL counted */
  else len += 1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  ssize_t r;
  do r = sendto(fd, state, state_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
  while (r < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (r < 0) return throw_errno(env, err, "sendto NOTIFY_SOCKET");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "notify", NAPI_AUTO_LENGTH, js_notify, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "notify", fn) != napi_ok)
    return NULL;
  return exports;
}
