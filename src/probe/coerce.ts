/**
 * util-linux JSON changed shape over the years (field-notes P2): before 2.33 every value is a
 * string ("ro": "1", "size": "8589934592"); later releases type them, column by column. These
 * helpers accept both, so one parser reads old and new output alike.
 */

export class ShapeError extends Error {}

export function asString(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new ShapeError(`${what}: expected a string, got ${JSON.stringify(v)}`);
}

export function asOptString(v: unknown): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  return typeof v === 'string' ? v : String(v);
}

export function asNumber(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v.trim());
  if (v === null || v === undefined) return 0;
  throw new ShapeError(`${what}: expected a number, got ${JSON.stringify(v)}`);
}

export function asBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.trim() === '1' || v.trim() === 'true';
  return false;
}

/** "  7:1  " (losetup pads it) or "7:1" → "7:1"; anything else → undefined. */
export function asMajMin(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+):(\d+)\s*$/.exec(v);
  return m ? `${Number(m[1])}:${Number(m[2])}` : undefined;
}

export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ShapeError(`${what}: output is not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ShapeError(`${what}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export function asArray(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ShapeError(`${what}: expected an array`);
  return v;
}

export function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ShapeError(`${what}: expected an object`);
  return v as Record<string, unknown>;
}
