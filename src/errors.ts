// Every error that crosses a boundary (API, CLI, state file) is created here, so codes and HTTP statuses stay
// in one place and callers can switch on `code` instead of matching messages.

export type ErrorCode =
  | 'NUMADVISOR_ERR_BAD_REQUEST'
  | 'NUMADVISOR_ERR_REQUEST_TOO_LARGE'
  | 'NUMADVISOR_ERR_BODY_TOO_LARGE'
  | 'NUMADVISOR_ERR_HEADERS_TOO_LARGE'
  | 'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED'
  | 'NUMADVISOR_ERR_EXPECTATION_FAILED'
  | 'NUMADVISOR_ERR_REQUEST_TIMEOUT'
  | 'NUMADVISOR_ERR_UNAUTHORIZED'
  | 'NUMADVISOR_ERR_MISDIRECTED'
  | 'NUMADVISOR_ERR_STOPPING'
  | 'NUMADVISOR_ERR_NOT_FOUND'
  | 'NUMADVISOR_ERR_TOPOLOGY'
  | 'NUMADVISOR_ERR_SNAPSHOT'
  | 'NUMADVISOR_ERR_STATE'
  | 'NUMADVISOR_ERR_LIBVIRT'
  | 'NUMADVISOR_ERR_LIBVIRT_PROTOCOL'
  | 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE'
  | 'NUMADVISOR_ERR_BUSY'
  | 'NUMADVISOR_ERR_DEADLINE'
  | 'NUMADVISOR_ERR_INTERNAL';

const HTTP_STATUS: Record<ErrorCode, number> = {
  NUMADVISOR_ERR_BAD_REQUEST: 400,
  NUMADVISOR_ERR_REQUEST_TOO_LARGE: 400,
  NUMADVISOR_ERR_BODY_TOO_LARGE: 413,
  NUMADVISOR_ERR_HEADERS_TOO_LARGE: 431,
  NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  NUMADVISOR_ERR_METHOD_NOT_ALLOWED: 405,
  NUMADVISOR_ERR_EXPECTATION_FAILED: 417,
  NUMADVISOR_ERR_REQUEST_TIMEOUT: 408,
  NUMADVISOR_ERR_UNAUTHORIZED: 401,
  NUMADVISOR_ERR_MISDIRECTED: 421,
  NUMADVISOR_ERR_STOPPING: 503,
  NUMADVISOR_ERR_NOT_FOUND: 404,
  NUMADVISOR_ERR_TOPOLOGY: 500,
  NUMADVISOR_ERR_SNAPSHOT: 400,
  NUMADVISOR_ERR_STATE: 500,
  NUMADVISOR_ERR_LIBVIRT: 502,
  NUMADVISOR_ERR_LIBVIRT_PROTOCOL: 502,
  NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE: 503,
  NUMADVISOR_ERR_BUSY: 503,
  NUMADVISOR_ERR_DEADLINE: 503,
  NUMADVISOR_ERR_INTERNAL: 500,
};

export class NumadvisorError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NumadvisorError';
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
  }
}

export const badRequest = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_BAD_REQUEST', message);
export const tooLarge = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_REQUEST_TOO_LARGE', message);
export const notFound = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_NOT_FOUND', message);
/** The HTTP status of a code: what a response built outside fastify (a raw socket) must send with it. */
export const httpStatusOf = (code: ErrorCode): number => HTTP_STATUS[code];

// The HTTP layer's own conditions (issue #12 F13): every answer the daemon gives, down to a malformed request line,
// carries one of these codes in {error:{code,message}}, so a client switches on `code` whatever went wrong.
/** The body alone is over the API's limit (413); REQUEST_TOO_LARGE (400) is a request asking for too much. */
export const bodyTooLarge = (limitBytes: number): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_BODY_TOO_LARGE', `request body is larger than ${limitBytes} bytes`);
export const headersTooLarge = (): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_HEADERS_TOO_LARGE', 'request line and headers are larger than the server accepts');
export const unsupportedMediaType = (contentType: string | undefined): NumadvisorError =>
  new NumadvisorError(
    'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE',
    contentType === undefined ? 'a request body needs content-type: application/json' : `content-type ${JSON.stringify(contentType.slice(0, 100))} is not accepted; send application/json`,
  );
export const methodNotAllowed = (method: string, path: string, allowed: readonly string[]): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}${allowed.length > 0 ? `; allowed: ${allowed.join(', ')}` : ''}`);
export const expectationFailed = (expect: string): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_EXPECTATION_FAILED', `cannot meet expect: ${JSON.stringify(expect.slice(0, 100))}; only 100-continue is supported`);
export const requestTimeout = (what: 'headers' | 'request', ms?: number): NumadvisorError =>
  new NumadvisorError(
    'NUMADVISOR_ERR_REQUEST_TIMEOUT',
    `the ${what === 'headers' ? "request's headers" : 'request'} did not arrive ${ms === undefined ? 'in time' : `within ${ms} ms`}`,
  );
export const unauthorized = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_UNAUTHORIZED', message);
/** A request that arrived on an open connection while the daemon closes its listeners. */
export const stopping = (): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_STOPPING', 'the daemon is stopping; ask again once it is back');
/** A failure of ours: the details go to the daemon's log, never to the client. */
export const internalError = (): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_INTERNAL', 'internal error; see the daemon log');
/** A Host this listener does not serve (421 Misdirected Request): a DNS-rebound page names its own host. */
export const misdirected = (host: string): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_MISDIRECTED', `host ${JSON.stringify(host.slice(0, 100))} is not served here; use 127.0.0.1, localhost or [::1]`);
export const topologyError = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_TOPOLOGY', message, { cause });
export const snapshotError = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_SNAPSHOT', message, { cause });
export const stateError = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_STATE', message, { cause });

/** The ledger cannot take an answer right now (a local answer is being recorded): the client asks again or answers itself. */
export const ledgerBusy = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_BUSY', message);
/** The client's own deadline passed before the answer was ready: it has given up, so nothing is reserved for it. */
export const deadlinePassed = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_DEADLINE', message);

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && codes.includes(String((err as { code: unknown }).code));
}
