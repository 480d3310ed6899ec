// Every error our code creates is created here, each condition by its own named constructor, so codes and HTTP
// statuses stay in one place and callers can switch on `code` (or `instanceof` a subclass) instead of matching
// messages. test/unit/error-catalogue.test.ts fails on an error constructed anywhere else in src/. This module
// imports nothing of src/ (every layer imports it), so the shapes it takes from a layer are declared here.

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
  | 'NUMADVISOR_ERR_INTERNAL'
  | 'NUMADVISOR_ERR_USAGE'
  | 'NUMADVISOR_ERR_ADDON'
  | 'NUMADVISOR_ERR_DAEMON'
  | 'NUMADVISOR_ERR_CONFIG'
  | 'NUMADVISOR_ERR_NOT_INSTALLED';

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
  // A usage error never reaches the API (the CLIs print it); a status is still needed, and 400 is what it would be.
  NUMADVISOR_ERR_USAGE: 400,
  NUMADVISOR_ERR_ADDON: 500,
  // Seen by a client of the daemon (numad -w, numadvisor status): the daemon refused or answered something unusable.
  NUMADVISOR_ERR_DAEMON: 502,
  // Neither reaches the API (the daemon does not start; `numadvisor simulate` prints it): statuses for completeness.
  NUMADVISOR_ERR_CONFIG: 500,
  NUMADVISOR_ERR_NOT_INSTALLED: 501,
};

/** Every code, for tests that check the catalogue as a whole. */
export const ERROR_CODES = Object.keys(HTTP_STATUS) as readonly ErrorCode[];

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

// --- The command line ----------------------------------------------------------------------------------------------

/**
 * A value given on the command line or in the environment that is not valid: the CLIs print its message alone (with
 * the usage, exit 2, for `numadvisor`), never its code, which is for programs.
 */
export class UsageError extends NumadvisorError {
  constructor(message: string) {
    super('NUMADVISOR_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}
export const usageError = (message: string): UsageError => new UsageError(message);
/** `numadvisor advise --domain-xml FILE`: FILE is not a domain XML a guest layout can be made for. */
export const domainXmlUnusable = (reason: string): UsageError => new UsageError(`domain XML: ${reason}`);
/** DAEMON_CONFIG_ENV (the configuration numad hands the daemon it starts) is not JSON. */
export const daemonConfigNotJson = (reason: string): UsageError => new UsageError(`the daemon's configuration is not JSON: ${reason}`);
/** DAEMON_CONFIG_ENV is JSON but not a configuration: `problems` lists each field's problem. */
export const daemonConfigInvalid = (problems: string): UsageError => new UsageError(`the daemon's configuration: ${problems}`);

/**
 * The daemon's configuration file (/etc/default/numadvisor, src/config/config-file.ts): a line it cannot read or a
 * value an option would refuse. Not a usage error: the command line was fine, so no usage is printed; the code is.
 */
export const configFileError = (file: string, line: number | undefined, message: string): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_CONFIG', `${file}${line === undefined ? '' : `:${line}`}: ${message}`);

/** An optional npm package a command needs is not installed (the Debian package leaves out highs, for simulate). */
export const notInstalled = (pkg: string, neededBy: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError(
    'NUMADVISOR_ERR_NOT_INSTALLED',
    `${neededBy} needs the npm package ${pkg}, which this installation leaves out (the daemon does not need it); run it from a source checkout (npm ci) or install ${pkg} beside numadvisor`,
    cause === undefined ? undefined : { cause },
  );

// --- A client of the daemon (numad -w, numadvisor status/rollback) -----------------------------------------------

export const daemonNotAccepting = (): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_DEADLINE', 'daemon did not accept the connection in time');
export const daemonTooSlow = (): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_DEADLINE', 'daemon did not answer in time');
/** The daemon answered with another status than 200; the start of its body says why. */
export const daemonRefused = (status: number | undefined, body: string): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_DAEMON', `daemon answered HTTP ${status}: ${body.slice(0, 200)}`);
export const daemonAnswerNotNodeset = (): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_DAEMON', 'daemon answer is not a canonical nodeset');

// --- The host and the policy ---------------------------------------------------------------------------------------

/** A node's meminfo without a line every kernel writes. */
export const missingMeminfoField = (where: string, field: string): NumadvisorError => topologyError(`${where}: no ${field} line`);
/** Every host has a node: a policy asked about none is our bug, so the API answers it as an internal error. */
export const noPolicyNodes = (): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_INTERNAL', 'policy needs at least one node');
export const noMemoryNode = (): NumadvisorError => topologyError('host has no node with memory');

/**
 * A RangeError (what JavaScript's own range checks throw, and what callers may test for) carrying a code: a value
 * outside a range its caller guaranteed, i.e. our bug. Not a NumadvisorError, so the API answers it as internal.
 */
export class CodedRangeError extends RangeError {
  readonly code: ErrorCode = 'NUMADVISOR_ERR_INTERNAL';
  readonly httpStatus = HTTP_STATUS.NUMADVISOR_ERR_INTERNAL;
}
/** A libvirt CPU map for a CPU the host does not have (pins are chosen from the host's CPUs). */
export const cpuOutsideHost = (cpu: number, hostCpus: number): CodedRangeError => new CodedRangeError(`CPU ${cpu} is outside the host's ${hostCpus} CPUs`);

// --- Files the daemon writes and the native addons -----------------------------------------------------------------

/** A write(2) that returned 0 bytes: the loop writing the rest would spin. */
export const writeMadeNoProgress = (what: 'journal' | 'snapshot'): NumadvisorError => stateError(`the ${what} write made no progress`);
/** A positioned write that wrote less than the line (a nearly full disk). */
export const shortWrite = (): NumadvisorError => stateError('short write');

export const addonNotBuilt = (name: 'file-lock' | 'proc-scan' | 'sd-notify'): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_ADDON', `${name}.node not built (make build compiles src/native/${name}.c)`);
/** A file where the addon should be that lacks its functions (an older build). */
export const addonMismatch = (file: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_ADDON', `${file} is not this version's addon (make build)`);
/** What loading an addon threw: the Error itself (dlopen's reason), or an ADDON error with the text of anything else. */
export const addonLoadFailed = (thrown: unknown): Error => (thrown instanceof Error ? thrown : new NumadvisorError('NUMADVISOR_ERR_ADDON', String(thrown)));

// --- libvirt -------------------------------------------------------------------------------------------------------

/** Bytes from libvirtd that break its protocol (framing, XDR, typed parameters, domain XML). */
export const libvirtProtocolError = (message: string): NumadvisorError => new NumadvisorError('NUMADVISOR_ERR_LIBVIRT_PROTOCOL', message);
export const libvirtUnavailable = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
export const libvirtConnectFailed = (socketPath: string, cause: Error): NumadvisorError => libvirtUnavailable(`cannot connect to libvirt at ${socketPath}: ${cause.message}`, cause);
export const libvirtConnectionClosed = (): NumadvisorError => libvirtUnavailable('connection to libvirt closed');
export const libvirtCallTimedOut = (procedure: number, timeoutMs: number): NumadvisorError =>
  libvirtUnavailable(`libvirt did not answer procedure ${procedure} in ${timeoutMs} ms`);
/** A libvirt route on a daemon started with --libvirt none. */
export const libvirtNotUsed = (): NumadvisorError => libvirtUnavailable('this daemon runs without libvirt (--libvirt none)');

/** No socket file at any of the paths (libvirtd not running or not installed): the client parks until poked. */
export class NoLibvirtSocketError extends NumadvisorError {
  constructor(paths: readonly string[]) {
    super('NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', `no libvirt socket at ${paths.join(' or ')}`);
  }
}
export const noLibvirtSocket = (paths: readonly string[]): NoLibvirtSocketError => new NoLibvirtSocketError(paths);

/** virNetMessageError as libvirt sends it (libvirt/protocol.ts reads it; declared here so errors.ts imports nothing). */
export interface LibvirtRemoteError {
  code: number;
  domain: number;
  message: string;
  level: number;
}

/** A failed libvirt call: libvirt's own code, domain and message, under our coded error. */
export class LibvirtError extends NumadvisorError {
  constructor(
    readonly libvirt: LibvirtRemoteError,
    readonly procedure: number,
  ) {
    super('NUMADVISOR_ERR_LIBVIRT', libvirt.message || `libvirt error ${libvirt.code} in procedure ${procedure}`);
    this.name = 'LibvirtError';
  }
}
export const libvirtCallFailed = (remote: LibvirtRemoteError, procedure: number): LibvirtError => new LibvirtError(remote, procedure);

export const notAUuid = (text: string): NumadvisorError => badRequest(`not a UUID: ${text}`);
/** An advice request for hugepages of a size no node has a pool of (the message names the sizes there are). */
export const noHugepagePool = (sizeKiB: number, sizesKiB: readonly number[]): NumadvisorError =>
  badRequest(`hugepages: this host has no ${sizeKiB} kB pool; its pools: ${sizesKiB.length > 0 ? sizesKiB.map((k) => `${k} kB`).join(', ') : 'none'}`);
export const notWholeHugepages = (memMiB: number, sizeKiB: number): NumadvisorError =>
  badRequest(`mem: ${memMiB} MiB is not a whole number of ${sizeKiB} kB hugepages`);

// --- Domain moves and the simulator --------------------------------------------------------------------------------

/** A move asked for (on the API) to nodes none of whose CPUs are online; `nodes` is the nodeset's text. */
export const noCpusToPin = (nodes: string): NumadvisorError => badRequest(`nodes ${nodes} have no CPUs to pin to`);
export const nothingToRollBack = (domain: string): NumadvisorError => notFound(`nothing to roll back for domain ${domain}`);
/** HiGHS found no optimum for a scenario (infeasible, or an error of the model we built). */
export const optimumFailed = (scenario: string, status: string): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_INTERNAL', `optimum for ${scenario}: HiGHS says ${status}`);

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && codes.includes(String((err as { code: unknown }).code));
}
