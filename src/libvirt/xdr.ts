// The XDR subset libvirt's RPC uses (RFC 4506): 4-byte big-endian words, 8-byte hypers, length-prefixed strings and
// opaques padded to 4 bytes, optional values as a 0/1 word, arrays as a count. Hand-written rather than a library:
// the subset is small, and the npm XDR codecs are built around their own schema DSLs (stellar's) we would not use.
import { libvirtProtocolError } from '../errors.js';

/** libvirt's own limits (remote_protocol.x): a string is at most 4 MiB, a message 32 MiB. */
export const XDR_STRING_MAX = 4 * 1024 * 1024;

const pad = (n: number): number => (4 - (n % 4)) % 4;

export class XdrWriter {
  private chunks: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  int(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.push(b);
  }

  uint(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return this.push(b);
  }

  hyper(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return this.push(b);
  }

  uhyper(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.push(b);
  }

  double(v: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return this.push(b);
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  /** opaque<>: length word, bytes, padding */
  opaque(data: Uint8Array): this {
    this.uint(data.length);
    return this.fixedOpaque(data);
  }

  /** opaque[n]: bytes and padding, no length */
  fixedOpaque(data: Uint8Array): this {
    this.push(Buffer.from(data));
    const p = pad(data.length);
    return p ? this.push(Buffer.alloc(p)) : this;
  }

  string(s: string): this {
    const b = Buffer.from(s, 'utf8');
    if (b.length > XDR_STRING_MAX) throw libvirtProtocolError(`string of ${b.length} bytes is over libvirt's ${XDR_STRING_MAX}`);
    return this.opaque(b);
  }

  /** T*: a 0/1 word, then T when present */
  optional<T>(v: T | undefined | null, write: (w: this, v: T) => void): this {
    if (v === undefined || v === null) return this.int(0);
    this.int(1);
    write(this, v);
    return this;
  }

  array<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.uint(items.length);
    for (const it of items) write(this, it);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw libvirtProtocolError(`XDR message truncated: need ${n} bytes at offset ${this.pos} of ${this.buf.length}`);
    }
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    return this.int() !== 0;
  }

  fixedOpaque(n: number): Buffer {
    this.need(n + pad(n));
    const v = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n + pad(n);
    return v;
  }

  opaque(max = XDR_STRING_MAX * 8): Buffer {
    const n = this.uint();
    if (n > max) throw libvirtProtocolError(`XDR opaque of ${n} bytes is over the limit ${max}`);
    return this.fixedOpaque(n);
  }

  string(): string {
    return this.opaque(XDR_STRING_MAX).toString('utf8');
  }

  optional<T>(read: (r: this) => T): T | undefined {
    const present = this.uint();
    if (present > 1) throw libvirtProtocolError(`XDR optional flag ${present} is neither 0 nor 1`);
    return present ? read(this) : undefined;
  }

  array<T>(read: (r: this) => T, max = 1 << 20): T[] {
    const n = this.uint();
    if (n > max) throw libvirtProtocolError(`XDR array of ${n} items is over the limit ${max}`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }
}
