// src/errors.ts is the one catalogue of the errors our code creates (issue #13): each condition has a named
// constructor there with its code and HTTP status, so a client (or a caller) can switch on `code` or `instanceof`.
// These tests keep it that way: no error is constructed elsewhere in src/, every code has a status, and every
// constructor yields the code and message documented in the table below (the messages are what users and tests
// match, so a change to one shows up here). fastify's own refusals are recognised by their classes.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorCodes } from 'fastify';
import { describe, expect, it } from 'vitest';
import * as errors from '../../src/errors.js';
import { ERROR_CODES, httpStatusOf, LibvirtError, NoLibvirtSocketError, NumadvisorError, UsageError, type ErrorCode } from '../../src/errors.js';
import { fromFrameworkError } from '../../src/server/http-errors.js';
import { REPO_DIR } from '../helpers/fixtures.js';

const SRC = path.join(REPO_DIR, 'src');
const CATALOGUE = path.join(SRC, 'errors.ts');

/** An error built outside the catalogue: `new …Error(`, a call of a built-in Error type, or an Error subclass. */
const FORBIDDEN: { what: string; pattern: RegExp }[] = [
  { what: 'constructs an error', pattern: /\bnew\s+[\w$]*Error\s*\(/ },
  // Error('x') without `new` makes an Error too; `stateError(` and friends are preceded by a letter, so do not match.
  { what: 'calls an Error type', pattern: /(?<![\w$.])(?:Range|Type|Syntax|URI|Eval|Reference|Aggregate)?Error\s*\(/ },
  { what: 'declares an error class', pattern: /\bextends\s+[\w$]*Error\b/ },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.isFile() && e.name.endsWith('.ts') ? [full] : [];
  });
}

describe('errors are made in src/errors.ts only', () => {
  it('no file of src/ but errors.ts constructs an error or declares an error class', () => {
    const found: string[] = [];
    for (const file of sourceFiles(SRC)) {
      if (file === CATALOGUE) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // Comments may talk about `new Error(`; only code counts.
          const code = line.trim().startsWith('//') || line.trim().startsWith('*') ? '' : line.replace(/\/\/.*$/, '');
          for (const f of FORBIDDEN) {
            if (f.pattern.test(code)) found.push(`${path.relative(REPO_DIR, file)}:${i + 1}: ${f.what} (use or add a constructor in src/errors.ts): ${line.trim()}`);
          }
        });
    }
    expect(found).toEqual([]);
  });

  it('the scan would find each kind of construction it forbids', () => {
    const samples = ["throw new Error('x');", "throw new NumadvisorError('NUMADVISOR_ERR_STATE', 'x');", "throw new RangeError('x');", "throw TypeError('x');", 'class A extends Error {}', 'class B extends NumadvisorError {}', "throw new UsageError('x');"];
    for (const s of samples) expect(FORBIDDEN.some((f) => f.pattern.test(s)), s).toBe(true);
    for (const s of ["throw stateError('x');", "throw usageError('x');", 'if (err instanceof Error) return;', '(err as Error).message']) expect(FORBIDDEN.some((f) => f.pattern.test(s)), s).toBe(false);
  });
});

describe('the catalogue', () => {
  it('every code has an HTTP error status', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(0);
    for (const code of ERROR_CODES) {
      expect(code).toMatch(/^NUMADVISOR_ERR_[A-Z_]+$/);
      const status = httpStatusOf(code);
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`).toBe(true);
    }
  });

  type Catalogue = typeof errors;
  /** The exports called (not `new`ed) to make an error: every constructor of the catalogue. */
  type ConstructorName = { [K in keyof Catalogue]: Catalogue[K] extends (...args: never[]) => Error ? K : never }[keyof Catalogue];
  interface Row<K extends ConstructorName> {
    args: Parameters<Catalogue[K]>;
    code: ErrorCode;
    message: string;
  }
  const remote = { code: 42, domain: 10, message: 'Domain not found', level: 2 };
  // Every constructor must have a row (the type says so, and the test below checks the module at run time).
  const TABLE: { [K in ConstructorName]: Row<K> } = {
    badRequest: { args: ['bad'], code: 'NUMADVISOR_ERR_BAD_REQUEST', message: 'bad' },
    tooLarge: { args: ['too much'], code: 'NUMADVISOR_ERR_REQUEST_TOO_LARGE', message: 'too much' },
    notFound: { args: ['gone'], code: 'NUMADVISOR_ERR_NOT_FOUND', message: 'gone' },
    bodyTooLarge: { args: [65_536], code: 'NUMADVISOR_ERR_BODY_TOO_LARGE', message: 'request body is larger than 65536 bytes' },
    headersTooLarge: { args: [], code: 'NUMADVISOR_ERR_HEADERS_TOO_LARGE', message: 'request line and headers are larger than the server accepts' },
    unsupportedMediaType: { args: [undefined], code: 'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'a request body needs content-type: application/json' },
    methodNotAllowed: { args: ['PUT', '/v1/advice', ['GET']], code: 'NUMADVISOR_ERR_METHOD_NOT_ALLOWED', message: 'PUT is not allowed on /v1/advice; allowed: GET' },
    expectationFailed: { args: ['x'], code: 'NUMADVISOR_ERR_EXPECTATION_FAILED', message: 'cannot meet expect: "x"; only 100-continue is supported' },
    requestTimeout: { args: ['headers', 5], code: 'NUMADVISOR_ERR_REQUEST_TIMEOUT', message: "the request's headers did not arrive within 5 ms" },
    unauthorized: { args: ['no token'], code: 'NUMADVISOR_ERR_UNAUTHORIZED', message: 'no token' },
    stopping: { args: [], code: 'NUMADVISOR_ERR_STOPPING', message: 'the daemon is stopping; ask again once it is back' },
    internalError: { args: [], code: 'NUMADVISOR_ERR_INTERNAL', message: 'internal error; see the daemon log' },
    misdirected: { args: ['evil.example'], code: 'NUMADVISOR_ERR_MISDIRECTED', message: 'host "evil.example" is not served here; use 127.0.0.1, localhost or [::1]' },
    topologyError: { args: ['no nodes'], code: 'NUMADVISOR_ERR_TOPOLOGY', message: 'no nodes' },
    snapshotError: { args: ['bad snapshot'], code: 'NUMADVISOR_ERR_SNAPSHOT', message: 'bad snapshot' },
    stateError: { args: ['disk full'], code: 'NUMADVISOR_ERR_STATE', message: 'disk full' },
    ledgerBusy: { args: ['busy'], code: 'NUMADVISOR_ERR_BUSY', message: 'busy' },
    deadlinePassed: { args: ['late'], code: 'NUMADVISOR_ERR_DEADLINE', message: 'late' },
    usageError: { args: ['-C takes 0 or 1'], code: 'NUMADVISOR_ERR_USAGE', message: '-C takes 0 or 1' },
    domainXmlUnusable: { args: ['no <vcpu> count'], code: 'NUMADVISOR_ERR_USAGE', message: 'domain XML: no <vcpu> count' },
    daemonConfigNotJson: { args: ['Unexpected end'], code: 'NUMADVISOR_ERR_USAGE', message: "the daemon's configuration is not JSON: Unexpected end" },
    daemonConfigInvalid: { args: ['stateDir: must be an absolute path'], code: 'NUMADVISOR_ERR_USAGE', message: "the daemon's configuration: stateDir: must be an absolute path" },
    daemonNotAccepting: { args: [], code: 'NUMADVISOR_ERR_DEADLINE', message: 'daemon did not accept the connection in time' },
    daemonTooSlow: { args: [], code: 'NUMADVISOR_ERR_DEADLINE', message: 'daemon did not answer in time' },
    daemonRefused: { args: [404, `{"error":1}${'x'.repeat(300)}`], code: 'NUMADVISOR_ERR_DAEMON', message: `daemon answered HTTP 404: {"error":1}${'x'.repeat(189)}` },
    daemonAnswerNotNodeset: { args: [], code: 'NUMADVISOR_ERR_DAEMON', message: 'daemon answer is not a canonical nodeset' },
    configFileError: { args: ['/etc/default/numadvisor', 12, 'unknown key X'], code: 'NUMADVISOR_ERR_CONFIG', message: '/etc/default/numadvisor:12: unknown key X' },
    notInstalled: {
      args: ['highs', 'numadvisor simulate'],
      code: 'NUMADVISOR_ERR_NOT_INSTALLED',
      message: 'numadvisor simulate needs the npm package highs, which this installation leaves out (the daemon does not need it); run it from a source checkout (npm ci) or install highs beside numadvisor',
    },
    missingMeminfoField: { args: ['node 0 meminfo', 'MemFree'], code: 'NUMADVISOR_ERR_TOPOLOGY', message: 'node 0 meminfo: no MemFree line' },
    noPolicyNodes: { args: [], code: 'NUMADVISOR_ERR_INTERNAL', message: 'policy needs at least one node' },
    noMemoryNode: { args: [], code: 'NUMADVISOR_ERR_TOPOLOGY', message: 'host has no node with memory' },
    cpuOutsideHost: { args: [8, 8], code: 'NUMADVISOR_ERR_INTERNAL', message: "CPU 8 is outside the host's 8 CPUs" },
    writeMadeNoProgress: { args: ['journal'], code: 'NUMADVISOR_ERR_STATE', message: 'the journal write made no progress' },
    shortWrite: { args: [], code: 'NUMADVISOR_ERR_STATE', message: 'short write' },
    addonNotBuilt: { args: ['proc-scan'], code: 'NUMADVISOR_ERR_ADDON', message: 'proc-scan.node not built (make build compiles src/native/proc-scan.c)' },
    addonMismatch: { args: ['/x/proc-scan.node'], code: 'NUMADVISOR_ERR_ADDON', message: "/x/proc-scan.node is not this version's addon (make build)" },
    addonLoadFailed: { args: ['not an Error'], code: 'NUMADVISOR_ERR_ADDON', message: 'not an Error' },
    libvirtProtocolError: { args: ['bad libvirt frame length 3'], code: 'NUMADVISOR_ERR_LIBVIRT_PROTOCOL', message: 'bad libvirt frame length 3' },
    libvirtUnavailable: { args: ['no libvirt socket'], code: 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message: 'no libvirt socket' },
    libvirtConnectFailed: { args: ['/run/l.sock', Object.assign(new Error('connect ENOENT /run/l.sock'), { code: 'ENOENT' })], code: 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message: 'cannot connect to libvirt at /run/l.sock: connect ENOENT /run/l.sock' },
    libvirtConnectionClosed: { args: [], code: 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message: 'connection to libvirt closed' },
    libvirtCallTimedOut: { args: [23, 35_000], code: 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message: 'libvirt did not answer procedure 23 in 35000 ms' },
    libvirtNotUsed: { args: [], code: 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message: 'this daemon runs without libvirt (--libvirt none)' },
    noLibvirtSocket: { args: [['/a.sock', '/b.sock']], code: 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE', message: 'no libvirt socket at /a.sock or /b.sock' },
    libvirtCallFailed: { args: [remote, 23], code: 'NUMADVISOR_ERR_LIBVIRT', message: 'Domain not found' },
    notAUuid: { args: ['web1'], code: 'NUMADVISOR_ERR_BAD_REQUEST', message: 'not a UUID: web1' },
    noCpusToPin: { args: ['2-3'], code: 'NUMADVISOR_ERR_BAD_REQUEST', message: 'nodes 2-3 have no CPUs to pin to' },
    noHugepagePool: { args: [4096, [2048, 1048576]], code: 'NUMADVISOR_ERR_BAD_REQUEST', message: 'hugepages: this host has no 4096 kB pool; its pools: 2048 kB, 1048576 kB' },
    notWholeHugepages: { args: [1000, 1048576], code: 'NUMADVISOR_ERR_BAD_REQUEST', message: 'mem: 1000 MiB is not a whole number of 1048576 kB hugepages' },
    nothingToRollBack: { args: ['web1'], code: 'NUMADVISOR_ERR_NOT_FOUND', message: 'nothing to roll back for domain web1' },
    optimumFailed: { args: ['boot-storm', 'Infeasible'], code: 'NUMADVISOR_ERR_INTERNAL', message: 'optimum for boot-storm: HiGHS says Infeasible' },
  };

  const made = (name: ConstructorName): Error & { code?: unknown; httpStatus?: unknown } => {
    const make = errors[name] as unknown as (...args: readonly unknown[]) => Error & { code?: unknown; httpStatus?: unknown };
    return make(...(TABLE[name].args as readonly unknown[]));
  };

  it('has a row for every constructor it exports', () => {
    const isClass = (v: unknown): boolean => typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v));
    const constructors = Object.entries(errors)
      .filter(([name, v]) => typeof v === 'function' && !isClass(v) && name !== 'httpStatusOf' && name !== 'isErrno')
      .map(([name]) => name)
      .sort();
    expect(constructors).toEqual(Object.keys(TABLE).sort());
  });

  it.each(Object.keys(TABLE) as ConstructorName[])('%s yields its code, that code’s status and its message', (name) => {
    const row = TABLE[name];
    const e = made(name);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(row.code);
    expect(e.httpStatus).toBe(httpStatusOf(row.code));
    expect(e.message).toBe(row.message);
  });

  it('every code is made by some constructor', () => {
    const made = new Set(Object.values(TABLE).map((r) => r.code));
    expect(ERROR_CODES.filter((c) => !made.has(c))).toEqual([]);
  });

  it('subclasses keep their names, fields and instanceof', () => {
    const u = errors.usageError('x');
    expect(u).toBeInstanceOf(UsageError);
    expect(u).toBeInstanceOf(NumadvisorError);
    const l = errors.libvirtCallFailed(remote, 23);
    expect(l).toBeInstanceOf(LibvirtError);
    expect(l).toBeInstanceOf(NumadvisorError);
    expect(l.name).toBe('LibvirtError');
    expect(l.libvirt).toEqual(remote);
    expect(l.procedure).toBe(23);
    expect(errors.libvirtCallFailed({ ...remote, message: '' }, 23).message).toBe('libvirt error 42 in procedure 23');
    expect(errors.noLibvirtSocket(['/a'])).toBeInstanceOf(NoLibvirtSocketError);
    expect(errors.libvirtUnavailable('x')).not.toBeInstanceOf(NoLibvirtSocketError);
    // A range check's error stays a RangeError (callers may test for it) and is not one the API sends as it is.
    const r = errors.cpuOutsideHost(9, 8);
    expect(r).toBeInstanceOf(RangeError);
    expect(r).not.toBeInstanceOf(NumadvisorError);
    const cause = new Error('dlopen failed');
    expect(errors.addonLoadFailed(cause)).toBe(cause);
    expect(errors.libvirtUnavailable('x', cause).cause).toBe(cause);
  });
});

describe('fastify refusals are recognised by class (errorCodes), not by code text', () => {
  const limits = { bodyLimit: 65_536, maxParamLength: 1024 };
  it.each<[string, Error, ErrorCode, string]>([
    ['body too large', new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), 'NUMADVISOR_ERR_BODY_TOO_LARGE', 'request body is larger than 65536 bytes'],
    ['unsupported media type', new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), 'NUMADVISOR_ERR_UNSUPPORTED_MEDIA_TYPE', 'content-type "text/xml" is not accepted; send application/json'],
    ['a bad URL', new errorCodes.FST_ERR_BAD_URL('/v1/%zz'), 'NUMADVISOR_ERR_BAD_REQUEST', 'the URL is not valid (a bad %-escape?)'],
    ['a long path parameter', new errorCodes.FST_ERR_MAX_PARAM_LENGTH('/v1/domains/x'), 'NUMADVISOR_ERR_BAD_REQUEST', 'a path parameter is longer than 1024 characters'],
    ['bad JSON (by its 400)', new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), 'NUMADVISOR_ERR_BAD_REQUEST', "Body is not valid JSON but content-type is set to 'application/json'"],
  ])('%s', (_what, err, code, message) => {
    const e = fromFrameworkError(err, limits, 'text/xml');
    expect(e?.code).toBe(code);
    expect(e?.message).toBe(message);
  });

  it('an INTERNAL error of ours is not answered as it is (its details are for the log)', () => {
    expect(fromFrameworkError(errors.noPolicyNodes(), limits, undefined)).toBeUndefined();
    expect(fromFrameworkError(errors.cpuOutsideHost(9, 8), limits, undefined)).toBeUndefined();
    const topology = errors.noMemoryNode();
    expect(fromFrameworkError(topology, limits, undefined)).toBe(topology);
  });
});
