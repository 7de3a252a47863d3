import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ByteReader } from '../../src/probe/bytes.js';

const FIXTURES = join(import.meta.dirname, '../fixtures');

/**
 * Replays the byte ranges a reader read from a real volume (test/fixtures/{ntfs,lvm}/record.sh),
 * after an optional edit of them; any other read fails the test.
 */
export function recordedReader(fixture: string, edit?: (reads: Record<string, Buffer>) => void): ByteReader {
  const j = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, `${fixture}.json.gz`))).toString()) as { reads: Record<string, string> };
  const reads = Object.fromEntries(Object.entries(j.reads).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  edit?.(reads);
  return async (offset, length) => {
    const hit = reads[`${offset}+${length}`];
    if (!hit) throw new Error(`unrecorded read ${offset}+${length}`);
    return hit;
  };
}
