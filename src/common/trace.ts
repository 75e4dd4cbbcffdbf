/**
 * A three-lane trace of what each world sees: the demo prints it, `--json` emits it, the teaching
 * page draws it. Components take an optional `TraceSink`; with none, tracing costs nothing.
 * REE-lane events may carry only public data, handles and ciphertext; TEE and trusted-key lanes
 * show what those worlds see, but never key bytes, PINs or channel keys.
 */
export type TraceLane = 'REE' | 'TEE' | 'TK';

export interface TraceEvent {
  lane: TraceLane;
  /** Short actor name within the lane, e.g. 'wallet:alice', 'wallet-ta', 'trusted-interaction'. */
  actor: string;
  /** One-line description of the step. */
  text: string;
  /** Optional structured detail (public values, hex of ciphertext, decoded plaintext inside TEE/TK). */
  detail?: Record<string, string | number | boolean>;
  /** Milliseconds since the trace started, filled in by the trace. */
  t?: number;
}

export type TraceSink = (event: TraceEvent) => void;

/** Collects events in order. */
export class Trace {
  readonly events: TraceEvent[] = [];
  private readonly start = performance.now();
  private readonly listeners: TraceSink[] = [];

  readonly sink: TraceSink = (event) => {
    const e = { ...event, t: Math.round((performance.now() - this.start) * 10) / 10 };
    this.events.push(e);
    for (const l of this.listeners) l(e);
  };

  /** Also call `listener` for every future event (e.g. print as it happens). */
  onEvent(listener: TraceSink): void {
    this.listeners.push(listener);
  }
}

/** Shorten a hex string for display: first and last bytes with the length. */
export function shortHex(bytes: Uint8Array, keep = 12): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  if (hex.length <= keep * 2) return hex;
  return `${hex.slice(0, keep)}…${hex.slice(-8)} (${bytes.length} B)`;
}

/**
 * A decoded message's fields as trace detail, one line each: bytes as short hex, long strings cut,
 * nested values named by kind. For the lanes that see plaintext (what the TEE OS sends its trusted
 * key); callers pass only messages that world may show, never key material.
 */
export function traceFields(value: unknown, prefix = ''): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) {
    out[prefix || 'value'] = traceValue(value);
    return out;
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) && prefix === '') Object.assign(out, traceFields(v, name));
    else out[name] = traceValue(v);
  }
  return out;
}

const MAX_TRACE_STRING = 120;

function traceValue(v: unknown): string | number | boolean {
  if (v instanceof Uint8Array) return shortHex(v);
  if (typeof v === 'string') return v.length > MAX_TRACE_STRING ? `${v.slice(0, MAX_TRACE_STRING)}… (${v.length} chars)` : v;
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `[${v.length} item${v.length === 1 ? '' : 's'}]`;
  return `{${Object.keys(v as object).join(', ')}}`;
}
