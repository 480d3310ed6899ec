// Deadlines for a request's headers and for the whole request, per connection (issue #12 F7: a request trickled one
// byte a second was still open after 340 s). Node enforces server.headersTimeout/requestTimeout only from a check
// that runs every connectionsCheckingInterval whether or not a connection is open, and the daemon turned that check
// off (no idle wake-ups, docs/architecture.md). So each connection carries one timer of its own instead: armed when
// it opens, moved when its request's headers are in, cleared when the answer has gone out. An idle daemon has no
// timer at all; a busy one has one per connection that is still sending.
import type http from 'node:http';
import type { Socket } from 'node:net';
import { requestTimeout } from '../errors.js';
import { answerAndClose } from './http-errors.js';

export interface RequestDeadlines {
  /** from the connection (or the previous answer) to the end of the request's headers */
  headersMs: number;
  /** from the same start to the end of the request's body */
  requestMs: number;
}

/**
 * Clients here send a few hundred bytes at once (curl, `numad -w`, libvirt's hook), so a second is already slow; 10 s
 * covers a loaded host. 30 s for the whole request likewise (Node's own defaults are 60 s and 300 s).
 */
export const DEFAULT_REQUEST_DEADLINES: RequestDeadlines = { headersMs: 10_000, requestMs: 30_000 };

interface ConnectionState {
  timer: NodeJS.Timeout | undefined;
  /** when the current request could have started: the connection, or the last answer on it */
  since: number;
  /** requests whose answers are not out yet (more than one only when a client pipelines) */
  pending: number;
  current: http.IncomingMessage | undefined;
  response: http.ServerResponse | undefined;
}

/**
 * `keepAliveMs`: Node closes a kept-alive connection that sends nothing for this long (a socket idle timer, not the
 * periodic check), so after an answer the next request's headers are due within keepAliveMs + headersMs.
 */
export function enforceRequestDeadlines(server: http.Server, deadlines: RequestDeadlines, keepAliveMs: number): void {
  const states = new WeakMap<Socket, ConnectionState>();

  const arm = (socket: Socket, s: ConnectionState, ms: number, onTimeout: () => void): void => {
    clearTimeout(s.timer);
    // unref: a connection past its deadline is no reason to keep a stopping daemon alive.
    s.timer = setTimeout(onTimeout, Math.max(0, ms)).unref();
  };
  const headersLate = (socket: Socket): void => answerAndClose(socket, requestTimeout('headers', deadlines.headersMs));
  const requestLate = (socket: Socket, s: ConnectionState): void => {
    // The request is all in and only the answer is pending: a slow handler is not the client's fault.
    if (s.current?.complete) return;
    // An answer has started on this connection (a pipelined one): no second status line can follow it.
    if (s.response?.headersSent) {
      socket.destroy();
      return;
    }
    answerAndClose(socket, requestTimeout('request', deadlines.requestMs));
  };

  server.on('connection', (socket: Socket) => {
    const s: ConnectionState = { timer: undefined, since: Date.now(), pending: 0, current: undefined, response: undefined };
    states.set(socket, s);
    arm(socket, s, deadlines.headersMs, () => headersLate(socket));
    socket.once('close', () => clearTimeout(s.timer));
  });

  // Before fastify's listener, so the response is watched before any handler can finish it.
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    const s = states.get(socket);
    if (!s) return;
    s.pending++;
    s.current = req;
    s.response = res;
    // The body is due requestMs after the request began. On a kept-alive connection its first byte is not seen (Node
    // hands bytes to its parser directly), only the previous answer: idle time before it is not the request's.
    const headersTook = Math.min(Date.now() - s.since, deadlines.headersMs);
    arm(socket, s, deadlines.requestMs - headersTook, () => requestLate(socket, s));
    let done = false;
    const answered = (): void => {
      if (done) return;
      done = true;
      s.pending--;
      if (s.pending > 0 || socket.destroyed) return;
      s.since = Date.now();
      s.current = undefined;
      s.response = undefined;
      arm(socket, s, keepAliveMs + deadlines.headersMs, () => headersLate(socket));
    };
    res.once('finish', answered);
    res.once('close', answered);
  });
}
