// One error format for everything the HTTP server answers (issue #12 F13): {error:{code,message}} with a code from
// src/errors.ts and that code's status, whether fastify routed the request, refused its body, or Node's parser
// rejected the bytes before a request existed. Clients switch on `code`; nothing here invents a status.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorCodes } from 'fastify';
import {
  badRequest,
  bodyTooLarge,
  expectationFailed,
  headersTooLarge,
  httpStatusOf,
  methodNotAllowed,
  notFound,
  NumadvisorError,
  requestTimeout,
  unsupportedMediaType,
} from '../errors.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

export const errorBody = (err: NumadvisorError): ErrorBody => ({ error: { code: err.code, message: err.message } });

/**
 * A complete HTTP/1.1 response for a raw socket: what is written where no ServerResponse exists (a parse error, a
 * CONNECT, a connection past its deadline). `Connection: close`, because the stream cannot be trusted after it.
 */
export function rawErrorResponse(err: NumadvisorError, extraHeaders: Record<string, string> = {}): string {
  const body = JSON.stringify(errorBody(err));
  const status = httpStatusOf(err.code);
  const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extraHeaders };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n${lines.join('')}\r\n${body}`;
}

/** Write a raw error answer and close; a socket that can no longer be written to is just closed. */
export function answerAndClose(socket: Duplex, err: NumadvisorError, extraHeaders: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(rawErrorResponse(err, extraHeaders), () => socket.destroy());
}

/**
 * Node's codes for what its HTTP parser and sockets report before a request exists. Unlike fastify's refusals
 * (errorCodes, tested with instanceof) they come without classes, so they are compared as strings, named here once.
 */
const NODE_HTTP_CODES = {
  /** request line and headers over the server's maxHeaderSize */
  headerOverflow: 'HPE_HEADER_OVERFLOW',
  /** the server's requestTimeout passed before the request was complete */
  requestTimeout: 'ERR_HTTP_REQUEST_TIMEOUT',
  /** the client reset the connection */
  connectionReset: 'ECONNRESET',
} as const;

/** Any other error fastify hands over: only its status and message are used. */
interface FastifyLikeError {
  statusCode?: unknown;
  message?: unknown;
}

/**
 * What fastify's own refusals become in the catalogue. Undefined: not a client's mistake (a 5xx or no status at
 * all), which the caller logs and answers as an internal error.
 */
export function fromFrameworkError(
  err: unknown,
  limits: { bodyLimit: number; maxParamLength: number },
  contentType: string | undefined,
): NumadvisorError | undefined {
  // An INTERNAL error of ours carries details for the log, not for the client (see internalError).
  if (err instanceof NumadvisorError) return err.code === 'NUMADVISOR_ERR_INTERNAL' ? undefined : err;
  // fastify's error classes match by a per-code Symbol.for mark, so instanceof holds across copies of fastify too.
  if (err instanceof errorCodes.FST_ERR_CTP_BODY_TOO_LARGE) return bodyTooLarge(limits.bodyLimit);
  if (err instanceof errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE) return unsupportedMediaType(contentType);
  if (err instanceof errorCodes.FST_ERR_BAD_URL) return badRequest('the URL is not valid (a bad %-escape?)');
  if (err instanceof errorCodes.FST_ERR_MAX_PARAM_LENGTH) return badRequest(`a path parameter is longer than ${limits.maxParamLength} characters`);
  const e = (typeof err === 'object' && err !== null ? err : {}) as FastifyLikeError;
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  const message = typeof e.message === 'string' ? e.message : 'bad request';
  if (status === 413) return bodyTooLarge(limits.bodyLimit);
  if (status === 415) return unsupportedMediaType(contentType);
  if (status === 404) return notFound(message);
  if (status >= 400 && status < 500) return badRequest(message);
  return undefined;
}

/**
 * Node's parser refused the bytes (or its own timeout fired): no request exists, so fastify never sees it.
 * Mirrors Node's default (answer unless a response is already under way, then close) in our format.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset socket has nobody to answer.
  if (err.code === NODE_HTTP_CODES.connectionReset || socket.destroyed) return;
  // Node's own reason for the refusal (llhttp's, e.g. "Invalid method encountered"), never the bytes themselves.
  const parserReason: unknown = (err as NodeJS.ErrnoException & { reason?: unknown }).reason;
  const reason = typeof parserReason === 'string' ? parserReason : err.message;
  const answer =
    err.code === NODE_HTTP_CODES.headerOverflow
      ? headersTooLarge()
      : err.code === NODE_HTTP_CODES.requestTimeout
        ? requestTimeout('request')
        : badRequest(`malformed HTTP request: ${reason}${err.code ? ` (${err.code})` : ''}`);
  // A response already started on this connection (a pipelined request went bad mid-answer) cannot be followed by
  // another status line; Node's private link from socket to response is the only way to know.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  answerAndClose(socket, answer);
}

/**
 * Requests Node handles outside the 'request' event: CONNECT (no listener means the socket is dropped without a
 * word) and an Expect other than 100-continue (an empty 417). Both get the error format.
 */
export function installProtocolRefusals(server: http.Server): void {
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    answerAndClose(socket, methodNotAllowed('CONNECT', 'this server', []));
  });
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const err = expectationFailed(String(req.headers.expect ?? ''));
    const body = JSON.stringify(errorBody(err));
    res.writeHead(httpStatusOf(err.code), { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
}

/** Routes by method and path pattern, for 405 and its Allow header (fastify alone answers 404 to a wrong method). */
export class RouteTable {
  private readonly routes: { pattern: RegExp; method: string }[] = [];

  add(method: string, url: string): void {
    // find-my-way's syntax as used here: static segments and `:name` parameters.
    const source = url
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    this.routes.push({ pattern: new RegExp(`^${source}$`), method: method.toUpperCase() });
  }

  /** Methods served on this request target's path, in a stable order; [] when the path is unknown. */
  allowed(target: string): string[] {
    const path = pathOf(target);
    return [...new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
  }
}

/** The path of a request target in origin form (`/a?b`) or absolute form (`http://h/a?b`). */
export function pathOf(target: string): string {
  const noQuery = target.split('?')[0] ?? '';
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(noQuery);
  const path = abs ? noQuery.slice(abs[0].length) : noQuery;
  return path === '' ? '/' : path;
}
