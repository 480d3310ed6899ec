// Every error that crosses a boundary (API, CLI, state file) is created here, so codes and HTTP statuses stay
// in one place and callers can switch on `code` instead of matching messages.

export type ErrorCode =
  | 'NUMADVISOR_ERR_BAD_REQUEST'
  | 'NUMADVISOR_ERR_REQUEST_TOO_LARGE'
  | 'NUMADVISOR_ERR_NOT_FOUND'
  | 'NUMADVISOR_ERR_TOPOLOGY'
  | 'NUMADVISOR_ERR_SNAPSHOT'
  | 'NUMADVISOR_ERR_STATE'
  | 'NUMADVISOR_ERR_LIBVIRT'
  | 'NUMADVISOR_ERR_LIBVIRT_PROTOCOL'
  | 'NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE'
  | 'NUMADVISOR_ERR_INTERNAL';

const HTTP_STATUS: Record<ErrorCode, number> = {
  NUMADVISOR_ERR_BAD_REQUEST: 400,
  NUMADVISOR_ERR_REQUEST_TOO_LARGE: 400,
  NUMADVISOR_ERR_NOT_FOUND: 404,
  NUMADVISOR_ERR_TOPOLOGY: 500,
  NUMADVISOR_ERR_SNAPSHOT: 400,
  NUMADVISOR_ERR_STATE: 500,
  NUMADVISOR_ERR_LIBVIRT: 502,
  NUMADVISOR_ERR_LIBVIRT_PROTOCOL: 502,
  NUMADVISOR_ERR_LIBVIRT_UNAVAILABLE: 503,
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
export const topologyError = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_TOPOLOGY', message, { cause });
export const snapshotError = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_SNAPSHOT', message, { cause });
export const stateError = (message: string, cause?: unknown): NumadvisorError =>
  new NumadvisorError('NUMADVISOR_ERR_STATE', message, { cause });

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && codes.includes(String((err as { code: unknown }).code));
}
