/**
 * What every parser of a guest's files shares: bounds, line handling, shell-style KEY=VALUE files.
 * Every byte is the guest's, so nothing is interpreted beyond the file's own syntax, every string
 * is cut to MAX_VALUE, every list to MAX_ENTRIES, and no input makes a parser throw (the property
 * tests in test/unit/probe/guest-config.test.ts drive them with junk)
 */
/** Bounds for strings and lists from a guest */
export const MAX_VALUE = 256;
export const MAX_ENTRIES = 256;

// ---------------------------------------------------------------------------------------------
// shared helpers

/** Cuts a string to MAX_VALUE, never in the middle of a surrogate pair. */
export function cut(s: string): string {
  if (s.length <= MAX_VALUE) return s;
  const high = s.charCodeAt(MAX_VALUE - 1);
  return s.slice(0, high >= 0xd800 && high <= 0xdbff ? MAX_VALUE - 1 : MAX_VALUE);
}

export const cutOpt = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : cut(s));

/** For quoting a guest value inside a message that is itself cut to MAX_VALUE. */
export const brief = (s: string): string => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

export const lines = (text: string): string[] => text.split(/\r?\n/);

/** ifupdown, systemd unit files and udev rules continue a line that ends in a backslash. */
export function joinedLines(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const l of lines(text)) {
    if (l.endsWith('\\')) {
      pending += `${l.slice(0, -1)} `;
      continue;
    }
    out.push(pending + l);
    pending = '';
  }
  if (pending !== '') out.push(pending);
  return out;
}

/** Drops the keys whose value is undefined, so results compare and print cleanly. */
export function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Decodes runs of escaped bytes as UTF-8 (invalid sequences become U+FFFD). */
export const decodeBytes = (bytes: number[]): string => utf8.decode(Uint8Array.from(bytes));

// ---------------------------------------------------------------------------------------------
// shell-style KEY=VALUE files (os-release, lsb-release, redhat sysconfig)

/** A double-quoted value: a backslash escapes only " \ $ and ` (as in sh and os-release(5)); an unclosed quote runs to the end of the line. */
export function doubleQuoted(s: string): string {
  let out = '';
  for (let i = 1; i < s.length && out.length <= MAX_VALUE; i++) {
    const c = s[i]!;
    if (c === '"') break;
    const next = s[i + 1];
    if (c === '\\' && next !== undefined) {
      out += '"\\$`'.includes(next) ? next : c + next;
      i++;
    } else out += c;
  }
  return out;
}

export function unquote(raw: string): string {
  const s = raw.trim();
  if (s.startsWith('"')) return doubleQuoted(s);
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1);
    return end < 0 ? s.slice(1) : s.slice(1, end);
  }
  return s;
}

/** The assignments of a shell-style file; the last assignment of a key wins, as when the shell sources it. */
export function shellVars(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const l of lines(text)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(l);
    if (m) vars.set(m[1]!, cut(unquote(m[2]!)));
  }
  return vars;
}

/** The first line that is neither blank nor a comment, trimmed. */
export function firstLine(text: string): string | undefined {
  return lines(text).map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
}

