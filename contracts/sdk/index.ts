// medledger contract SDK for AssemblyScript.
//
// The host functions, the canonical value encoding (ABI v1), fixed-point amounts, state,
// facts and events. See README.md next to this file for the ABI itself.

// ---------------------------------------------------------------------------------------
// Host functions (module "medledger"). Pointers and lengths are checked by the host: a bad
// one ends the call with a trap.

@external("medledger", "input_len")
declare function host_input_len(): i32;
@external("medledger", "input_read")
declare function host_input_read(ptr: usize): void;
@external("medledger", "output_write")
declare function host_output_write(ptr: usize, len: i32): void;
@external("medledger", "state_get")
declare function host_state_get(keyPtr: usize, keyLen: i32, valPtr: usize, valCap: i32): i32;
@external("medledger", "state_set")
declare function host_state_set(keyPtr: usize, keyLen: i32, valPtr: usize, valLen: i32): void;
@external("medledger", "state_delete")
declare function host_state_delete(keyPtr: usize, keyLen: i32): void;
@external("medledger", "fact_get")
declare function host_fact_get(keyPtr: usize, keyLen: i32, valPtr: usize, valCap: i32): i32;
@external("medledger", "emit_event")
declare function host_emit_event(topicPtr: usize, topicLen: i32, dataPtr: usize, dataLen: i32): void;
@external("medledger", "block_time")
declare function host_block_time(): i64;
@external("medledger", "abort")
declare function host_abort(msgPtr: usize, msgLen: i32): void;

/** Status codes the entry point returns. Anything but OK reverts the call's writes. */
export const STATUS_OK: i32 = 0;
export const STATUS_REJECTED: i32 = 1;

/** Installed with `--use abort=...` so failed assertions reach the host as a message. */
export function contractAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = message === null ? "abort" : message;
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const bytes = String.UTF8.encode(text);
  host_abort(changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}

/** Ends the call with a trap carrying `message`; nothing the call did is kept. */
export function fail(message: string): void {
  const bytes = String.UTF8.encode(message);
  host_abort(changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}

function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

// ---------------------------------------------------------------------------------------
// Fixed-point amounts: i64 hundredths of the currency unit (cents). No floats anywhere.

export const CENTS: i64 = 100;

/** `units` whole currency units and `cents` hundredths, e.g. amount(12, 34) = 12.34. */
export function amount(units: i64, cents: i64 = 0): i64 {
  return amountAdd(amountMulInt(units, CENTS), cents);
}

export function amountAdd(a: i64, b: i64): i64 {
  const r = a + b;
  // Overflow when both operands share a sign the result does not.
  if (((a ^ r) & (b ^ r)) < 0) fail("amount overflow");
  return r;
}

export function amountSub(a: i64, b: i64): i64 {
  return amountAdd(a, -b);
}

export function amountMulInt(a: i64, n: i64): i64 {
  if (a == 0 || n == 0) return 0;
  const r = a * n;
  if (r / n != a) fail("amount overflow");
  return r;
}

/** `a` times `basisPoints`/10000, rounded half away from zero (20% = 2000 bp). */
export function amountPercent(a: i64, basisPoints: i64): i64 {
  const p = amountMulInt(a, basisPoints);
  const q = p / 10000;
  const rem = p % 10000;
  if (rem >= 5000) return q + 1;
  if (rem <= -5000) return q - 1;
  return q;
}

export function amountMin(a: i64, b: i64): i64 {
  return a < b ? a : b;
}

export function amountMax(a: i64, b: i64): i64 {
  return a > b ? a : b;
}

// ---------------------------------------------------------------------------------------
// ABI v1 values: a tag byte, then the payload, little-endian.

export const TAG_BOOL: u8 = 0x01;
export const TAG_INT: u8 = 0x02;
export const TAG_AMOUNT: u8 = 0x03;
export const TAG_BYTES: u8 = 0x04;
export const TAG_STR: u8 = 0x05;
export const TAG_LIST: u8 = 0x06;

/** Reads values in order; a value of the wrong type or past the end aborts the call. */
export class Reader {
  private pos: i32 = 0;
  constructor(private buf: Uint8Array) {}

  atEnd(): bool {
    return this.pos >= this.buf.length;
  }

  private byte(): u8 {
    if (this.pos >= this.buf.length) fail("abi: truncated");
    const b = this.buf[this.pos];
    this.pos += 1;
    return b;
  }

  private expect(tag: u8): void {
    if (this.byte() != tag) fail("abi: unexpected type");
  }

  private u32le(): i32 {
    let v: u32 = 0;
    for (let i = 0; i < 4; i++) v |= (<u32>this.byte()) << (8 * i);
    if (v > 0x7fffffff) fail("abi: length too large");
    return <i32>v;
  }

  private i64le(): i64 {
    let v: u64 = 0;
    for (let i = 0; i < 8; i++) v |= (<u64>this.byte()) << (8 * <u64>i);
    return <i64>v;
  }

  private slice(len: i32): Uint8Array {
    if (len > this.buf.length - this.pos) fail("abi: truncated");
    const out = this.buf.slice(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  readBool(): bool {
    this.expect(TAG_BOOL);
    const b = this.byte();
    if (b > 1) fail("abi: bad bool");
    return b == 1;
  }

  readInt(): i64 {
    this.expect(TAG_INT);
    return this.i64le();
  }

  readAmount(): i64 {
    this.expect(TAG_AMOUNT);
    return this.i64le();
  }

  readBytes(): Uint8Array {
    this.expect(TAG_BYTES);
    return this.slice(this.u32le());
  }

  readString(): string {
    this.expect(TAG_STR);
    const bytes = this.slice(this.u32le());
    return String.UTF8.decode(bytes.buffer, false);
  }

  /** The number of values in the list that follows; read them one by one. */
  readListLen(): i32 {
    this.expect(TAG_LIST);
    return this.u32le();
  }
}

/** Writes values in order; `bytes()` gives the encoding. */
export class Writer {
  private buf: Uint8Array = new Uint8Array(64);
  private len: i32 = 0;

  private reserve(n: i32): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: u8): void {
    this.reserve(1);
    this.buf[this.len] = b;
    this.len += 1;
  }

  private u32le(v: i32): void {
    for (let i = 0; i < 4; i++) this.byte(<u8>((<u32>v) >> (8 * i)));
  }

  private i64le(v: i64): void {
    for (let i = 0; i < 8; i++) this.byte(<u8>((<u64>v) >> (8 * <u64>i)));
  }

  private raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  writeBool(v: bool): Writer {
    this.byte(TAG_BOOL);
    this.byte(v ? 1 : 0);
    return this;
  }

  writeInt(v: i64): Writer {
    this.byte(TAG_INT);
    this.i64le(v);
    return this;
  }

  writeAmount(v: i64): Writer {
    this.byte(TAG_AMOUNT);
    this.i64le(v);
    return this;
  }

  writeBytes(v: Uint8Array): Writer {
    this.byte(TAG_BYTES);
    this.u32le(v.length);
    this.raw(v);
    return this;
  }

  writeString(v: string): Writer {
    const b = utf8(v);
    this.byte(TAG_STR);
    this.u32le(b.length);
    this.raw(b);
    return this;
  }

  /** Starts a list of `count` values; write them next. */
  writeListLen(count: i32): Writer {
    this.byte(TAG_LIST);
    this.u32le(count);
    return this;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

// ---------------------------------------------------------------------------------------
// Input and output.

/** The call's input, ready to read. */
export function input(): Reader {
  const len = host_input_len();
  const buf = new Uint8Array(len);
  if (len > 0) host_input_read(buf.dataStart);
  return new Reader(buf);
}

/** Sets the call's output (the last call wins). */
export function output(w: Writer): void {
  const b = w.bytes();
  host_output_write(b.dataStart, b.length);
}

// ---------------------------------------------------------------------------------------
// The contract's own state (reads see this call's own writes) and ledger facts.

function readWith(getter: (k: usize, kl: i32, v: usize, vc: i32) => i32, key: string): Uint8Array | null {
  const k = utf8(key);
  let buf = new Uint8Array(64);
  let n = getter(k.dataStart, k.length, buf.dataStart, buf.length);
  if (n < 0) return null;
  if (n > buf.length) {
    buf = new Uint8Array(n);
    n = getter(k.dataStart, k.length, buf.dataStart, buf.length);
  }
  return buf.slice(0, n);
}

export function stateGet(key: string): Uint8Array | null {
  return readWith(host_state_get, key);
}

export function stateSet(key: string, value: Uint8Array): void {
  const k = utf8(key);
  host_state_set(k.dataStart, k.length, value.dataStart, value.length);
}

export function stateDelete(key: string): void {
  const k = utf8(key);
  host_state_delete(k.dataStart, k.length);
}

/** A state entry holding one ABI Int or Amount, or `otherwise` when absent. */
export function stateGetI64(key: string, otherwise: i64): i64 {
  const v = stateGet(key);
  if (v === null) return otherwise;
  if (v.length != 9 || (v[0] != TAG_INT && v[0] != TAG_AMOUNT)) fail("state: not an integer");
  let r: u64 = 0;
  for (let i = 1; i < 9; i++) r |= (<u64>v[i]) << (8 * <u64>(i - 1));
  return <i64>r;
}

export function stateSetInt(key: string, value: i64): void {
  stateSet(key, new Writer().writeInt(value).bytes());
}

export function stateSetAmount(key: string, value: i64): void {
  stateSet(key, new Writer().writeAmount(value).bytes());
}

/**
 * A ledger fact the caller may see, as ABI values, or null when there is none or the caller
 * may not see it. Keys are namespaced: `coverage/<member>`, `member/<member>/birth_day`,
 * `priorauth/<member>/<code>`, `credential/<id>`.
 */
export function fact(key: string): Reader | null {
  const v = readWith(host_fact_get, key);
  return v === null ? null : new Reader(v);
}

/** The block's time, seconds since the Unix epoch: the only clock there is. */
export function blockTime(): i64 {
  return host_block_time();
}

/** Emits an event; it is recorded only if the call succeeds. */
export function emit(topic: string, data: Writer): void {
  const t = utf8(topic);
  const d = data.bytes();
  host_emit_event(t.dataStart, t.length, d.dataStart, d.length);
}
