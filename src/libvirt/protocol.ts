// libvirt's RPC protocol: framing, the remote program's procedure numbers, and the shared types (remote_protocol.x,
// virnetprotocol.x; ../shared/reference/libvirt.md §5b). Numbers here are a stable ABI: libvirt never renumbers.
import { libvirtProtocolError, notAUuid, type LibvirtRemoteError } from '../errors.js';
import { XdrReader, XdrWriter } from './xdr.js';

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_VERSION = 1;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PING = 1;
export const KEEPALIVE_PONG = 2;
/** remote_protocol.x: REMOTE_MESSAGE_MAX */
export const MESSAGE_MAX = 32 * 1024 * 1024;
export const HEADER_BYTES = 24;

export const enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
}

export const enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_CAPABILITIES: 7,
  DOMAIN_CREATE_XML: 10,
  DOMAIN_DESTROY: 12,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_GET_VCPUS: 20,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  CONNECT_GET_LIB_VERSION: 157,
  DOMAIN_GET_STATE: 212,
  DOMAIN_PIN_VCPU_FLAGS: 225,
  DOMAIN_GET_VCPU_PIN_INFO: 230,
  DOMAIN_SET_NUMA_PARAMETERS: 254,
  DOMAIN_GET_NUMA_PARAMETERS: 255,
  CONNECT_LIST_ALL_DOMAINS: 273,
  DOMAIN_PIN_EMULATOR: 279,
  DOMAIN_GET_EMULATOR_PIN_INFO: 280,
  NODE_GET_CPU_MAP: 293,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  DOMAIN_EVENT_CALLBACK_TUNABLE: 346,
  DOMAIN_GET_IOTHREAD_INFO: 351,
  DOMAIN_PIN_IOTHREAD: 352,
} as const;

/** virConnectSupportsFeature: VIR_DRV_FEATURE_PROGRAM_KEEPALIVE */
export const FEATURE_PROGRAM_KEEPALIVE = 10;

export interface Header {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
}

export function encodeFrame(h: Header, payload: Buffer = Buffer.alloc(0)): Buffer {
  const frame = Buffer.alloc(4 + HEADER_BYTES + payload.length);
  frame.writeUInt32BE(frame.length, 0);
  frame.writeUInt32BE(h.prog, 4);
  frame.writeUInt32BE(h.vers, 8);
  frame.writeInt32BE(h.proc, 12);
  frame.writeInt32BE(h.type, 16);
  frame.writeUInt32BE(h.serial, 20);
  frame.writeInt32BE(h.status, 24);
  payload.copy(frame, 28);
  return frame;
}

/** Reassembles frames from a byte stream: a socket delivers them split and joined arbitrarily. */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): { header: Header; payload: Buffer }[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: { header: Header; payload: Buffer }[] = [];
    for (;;) {
      if (this.pendingBytes < 4) break;
      const buf = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [buf];
      const len = buf.readUInt32BE(0);
      if (len < 4 + HEADER_BYTES || len > MESSAGE_MAX + 4) {
        throw libvirtProtocolError(`bad libvirt frame length ${len}`);
      }
      if (buf.length < len) break;
      out.push({
        header: {
          prog: buf.readUInt32BE(4),
          vers: buf.readUInt32BE(8),
          proc: buf.readInt32BE(12),
          type: buf.readInt32BE(16),
          serial: buf.readUInt32BE(20),
          status: buf.readInt32BE(24),
        },
        payload: Buffer.from(buf.subarray(28, len)),
      });
      const rest = buf.subarray(len);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    return out;
  }
}

/** remote_nonnull_domain */
export interface DomainRef {
  name: string;
  /** 16 raw bytes */
  uuid: Buffer;
  id: number;
}

export const writeDomain = (w: XdrWriter, d: DomainRef): void => {
  w.string(d.name).fixedOpaque(d.uuid).int(d.id);
};

export const readDomain = (r: XdrReader): DomainRef => ({ name: r.string(), uuid: r.fixedOpaque(16), id: r.int() });

export function uuidString(raw: Buffer): string {
  const h = raw.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function uuidBytes(s: string): Buffer {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw notAUuid(s);
  return Buffer.from(hex, 'hex');
}

/** virTypedParameterType */
export const enum ParamType {
  Int = 1,
  UInt = 2,
  LLong = 3,
  ULLong = 4,
  Double = 5,
  Boolean = 6,
  String = 7,
}

export type TypedParam =
  | { field: string; type: ParamType.Int | ParamType.UInt; value: number }
  | { field: string; type: ParamType.LLong | ParamType.ULLong; value: bigint }
  | { field: string; type: ParamType.Double; value: number }
  | { field: string; type: ParamType.Boolean; value: boolean }
  | { field: string; type: ParamType.String; value: string };

export function writeTypedParam(w: XdrWriter, p: TypedParam): void {
  w.string(p.field).int(p.type);
  switch (p.type) {
    case ParamType.Int:
      w.int(p.value);
      break;
    case ParamType.UInt:
      w.uint(p.value);
      break;
    case ParamType.LLong:
      w.hyper(p.value);
      break;
    case ParamType.ULLong:
      w.uhyper(p.value);
      break;
    case ParamType.Double:
      w.double(p.value);
      break;
    case ParamType.Boolean:
      w.bool(p.value);
      break;
    case ParamType.String:
      w.string(p.value);
      break;
  }
}

export function readTypedParam(r: XdrReader): TypedParam {
  const field = r.string();
  const type = r.int();
  switch (type) {
    case ParamType.Int:
      return { field, type, value: r.int() };
    case ParamType.UInt:
      return { field, type, value: r.uint() };
    case ParamType.LLong:
      return { field, type, value: r.hyper() };
    case ParamType.ULLong:
      return { field, type, value: r.uhyper() };
    case ParamType.Double:
      return { field, type, value: r.double() };
    case ParamType.Boolean:
      return { field, type, value: r.bool() };
    case ParamType.String:
      return { field, type, value: r.string() };
    default:
      throw libvirtProtocolError(`unknown typed parameter type ${type} for ${field}`);
  }
}

/** virNetMessageError, as libvirt sends it with a REPLY of status ERROR (declared in errors.ts, whose LibvirtError carries it). */
export type RemoteError = LibvirtRemoteError;

export function readRemoteError(r: XdrReader): RemoteError {
  const code = r.int();
  const domain = r.int();
  const message = r.optional((x) => x.string()) ?? '';
  const level = r.int();
  return { code, domain, message, level };
}

/** virErrorNumber values the client reacts to */
export const VIR_ERR_OPERATION_INVALID = 55;
export const VIR_ERR_NO_DOMAIN = 42;
export const VIR_ERR_OPERATION_TIMEOUT = 68;
