import { createTwoFilesPatch, diffArrays } from 'diff';

export interface Staleness {
  readonly stale: boolean;
  /** what changed, in words, one line per change */
  readonly changes: readonly string[];
  /** the facts as a unified diff (plan time → now) */
  readonly diff: string;
}

/** The subject a fact line is about: "loop /dev/loop0", "mount /mnt/x", "image web01"… */
function subject(line: string): string {
  const [kind, what] = line.split(' ');
  // one line of many drivers: any change is one change
  return kind === 'drivers' || kind === 'nbd-module' ? kind : `${kind} ${what}`;
}

function describe(before: string | undefined, after: string | undefined): string {
  const line = (after ?? before)!;
  const [kind, what] = line.split(' ');
  switch (kind) {
    case 'loop': {
      const dev = what!.replace('/dev/', '');
      if (!after) return `${dev} detached since the plan was made`;
      if (!before) return `${dev} attached since the plan was made (${after.split(' ').slice(2).join(' ')})`;
      return `${dev} changed since the plan was made (${after.split(' ').slice(2).join(' ')})`;
    }
    case 'mount': {
      const src = (l: string) => / from (\S+)/.exec(l)?.[1];
      if (!after) return `${what} unmounted since the plan was made (was from ${src(before!)})`;
      if (!before) return `${what} now mounted from ${src(after)}`;
      return `${what} now mounted from ${src(after)} (${after.split(') ')[1] ?? ''}) instead of ${src(before)}`;
    }
    case 'dm':
      return after ? (before ? `dm map ${what} changed` : `dm map ${what} created since the plan was made`) : `dm map ${what} removed since the plan was made`;
    case 'image': {
      // an image added to the manifest or taken out of it since (the manifest's edit is reported too)
      if (!before) return `image ${what} was not in the manifest when the plan was made`;
      if (!after) return `image ${what} is no longer in the manifest`;
      if (after.endsWith(' missing')) return `image ${what}'s file is gone`;
      if (before.endsWith(' missing')) return `image ${what}'s file appeared`;
      return `image ${what}'s file was replaced or modified (${before.split(' ').slice(3).join(' ')} → ${after.split(' ').slice(3).join(' ')})`;
    }
    case 'path':
      return `${what} is now ${after ? after.split(' ').slice(2).join(' ') : 'not looked at'}` +
        ` (was ${before ? before.split(' ').slice(2).join(' ') : 'not looked at'})`;
    case 'journal':
      return after ? `imgplan's journal now records ${what}` : `imgplan's journal no longer records ${what}`;
    case 'kernel':
      return `kernel capabilities changed: ${after}`;
    case 'drivers':
      return `filesystem drivers changed: ${after ?? 'none looked up now'} (was ${before ?? 'none looked up'})`;
    case 'qemu':
      return `what qemu-img says of image ${what} changed: ${after ? after.split(' ').slice(2).join(' ') : 'no longer looked at'}` +
        ` (was ${before ? before.split(' ').slice(2).join(' ') : 'not looked at'})`;
    case 'export':
      return `imgplan's export of image ${what} changed: ${after ? after.split(' ').slice(2).join(' ') : 'gone'}` +
        ` (was ${before ? before.split(' ').slice(2).join(' ') : 'not looked at'})`;
    case 'nbd':
      return `${what} is now ${after ? after.split(' ').slice(2).join(' ') : 'gone'} (was ${before ? before.split(' ').slice(2).join(' ') : 'not there'})`;
    case 'nbd-module':
      return `the nbd driver changed: ${after ?? 'not looked at'} (was ${before ?? 'not looked at'})`;
    case 'host-vg': {
      const uuid = (l: string) => l.split(' ')[2];
      if (!after) return `the host's volume group ${what} (uuid ${uuid(before!)}) is gone`;
      return before
        ? `the host's volume group ${what} changed (uuid ${uuid(before)} → ${uuid(after)})`
        : `the host now has a volume group ${what} (uuid ${uuid(after)}), which the plan did not check for a name clash`;
    }
    default:
      return after ? `now: ${after}` : `gone: ${before}`;
  }
}

/** Compares the facts a saved plan was made from with the facts now. */
export function compareFacts(then: readonly string[], now: readonly string[]): Staleness {
  const removed = new Map<string, string>();
  const added = new Map<string, string>();
  for (const part of diffArrays([...then], [...now])) {
    for (const l of part.value) {
      if (part.removed) removed.set(subject(l), l);
      if (part.added) added.set(subject(l), l);
    }
  }
  const subjects = [...new Set([...removed.keys(), ...added.keys()])].sort();
  const changes = subjects.map((s) => describe(removed.get(s), added.get(s)));
  const diff = changes.length ? createTwoFilesPatch('when planned', 'now', `${then.join('\n')}\n`, `${now.join('\n')}\n`, '', '', { context: 1 }) : '';
  return { stale: changes.length > 0, changes, diff };
}
