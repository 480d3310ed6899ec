// What the TCP listener (--tcp-port) serves (issue #12 F7). Every local user can connect to 127.0.0.1 — the very
// users the unix socket's 0660 mode keeps out — and so can a web page whose DNS name has been rebound to 127.0.0.1.
// So over TCP the Host must name the loopback (a rebound page sends its own name), and only read-only routes are
// open; whatever reserves, releases, changes options, moves or stops needs `Authorization: Bearer <token>`, the token
// the daemon writes at start to a file that only root and the socket's group can read.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, misdirected, unauthorized } from '../errors.js';

export interface TcpAccess {
  /** the bearer token (hex), as written to the token file */
  token: string;
}

/** Routes that change nothing (`method url` as registered); a route added later is closed until listed here. */
const READ_ONLY_ROUTES = new Set(
  ['/v1/nodes', '/v1/reservations', '/v1/options', '/v1/processes', '/v1/plan', '/v1/domains', '/healthz', '/metrics'].flatMap((url) => [`GET ${url}`, `HEAD ${url}`]),
);
/** Advice is read-only only when it reserves nothing (reserve defaults to true, as `numad -w` needs). */
const ADVICE_ROUTE = 'GET /v1/advice';

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** `host[:port]` naming this machine's loopback on `port` (or with no port, which means the default one). */
export function isLoopbackHost(host: string, port: number): boolean {
  const m = /^(\[[0-9a-f:.]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(host.toLowerCase());
  if (!m || !LOOPBACK_NAMES.has(m[1] as string)) return false;
  return m[2] === undefined || Number(m[2]) === port;
}

/** The authority of an absolute-form target (`GET http://host/path`), which RFC 9112 says wins over Host. */
function absoluteAuthority(target: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target)?.[1];
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * `Authorization: Bearer <token>` carrying this token. Both sides are hashed first so timingSafeEqual compares equal
 * lengths, and the time taken says nothing about how much of a guess was right.
 */
export function bearerMatches(header: string | undefined, expectedDigest: Buffer): boolean {
  const m = header === undefined ? null : /^bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return m !== null && timingSafeEqual(sha256(m[1] as string), expectedDigest);
}

function readOnly(req: FastifyRequest): boolean {
  const route = `${String(req.routeOptions.method)} ${req.routeOptions.url ?? ''}`;
  if (READ_ONLY_ROUTES.has(route)) return true;
  if (route !== ADVICE_ROUTE) return false;
  const reserve = (req.query as Record<string, unknown> | undefined)?.reserve;
  return reserve === 'false' || reserve === '0';
}

/** An onRequest hook for the TCP app: before any body is read, so a refused request costs nothing more. */
export function tcpGuard(access: TcpAccess): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = sha256(access.token);
  return async (req, reply) => {
    const port = req.socket.localPort ?? 0;
    const host = absoluteAuthority(req.raw.url ?? '') ?? req.headers.host;
    if (host === undefined || host === '') throw badRequest('a Host header naming 127.0.0.1, localhost or [::1] is required');
    if (!isLoopbackHost(host, port)) throw misdirected(host);
    // An unknown path is a 404 (or 405) whoever asks; it reveals nothing a token protects.
    if (req.is404 || readOnly(req)) return;
    if (bearerMatches(req.headers.authorization, expected)) return;
    reply.header('www-authenticate', 'Bearer realm="numadvisor"');
    throw unauthorized(
      req.headers.authorization === undefined
        ? 'over TCP this needs Authorization: Bearer <token> (the token is in the daemon\'s api-token file); the unix socket needs none'
        : 'the bearer token is not this daemon\'s',
    );
  };
}
