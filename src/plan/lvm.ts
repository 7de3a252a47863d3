import { error, type Diagnostic, type SourcePos } from '../diagnostics.js';
import type { ImageSpec, Manifest } from '../manifest/types.js';
import type { LvmLv, LvmVg } from '../probe/lvm-metadata.js';
import type { HostVg } from '../probe/lvm-report.js';
import type { ObservedState } from '../probe/observed.js';
import { humanBytes } from './format.js';
import { missingToolHint } from '../errors.js';

/** One physical volume of a VG, as the attach that exposes it. */
export interface VgPv {
  readonly uuid: string;
  /** the PV's key in the VG metadata ("pv0") */
  readonly key: string;
  readonly image: string;
  /** "whole" or "partN" */
  readonly storage: string;
  readonly attach: string;
  /** the attach's device attr that is the PV ("device", "p2", "mapper:p2") */
  readonly sourceAttr: string;
}

export interface DesiredVg {
  readonly kind: 'vg';
  readonly address: string;
  readonly name: string;
  readonly uuid: string;
  readonly meta: LvmVg;
  /** lvm: LVM activates the LVs (scoped with --devices); map: imgplan maps them itself (name clash) */
  readonly mode: 'lvm' | 'map';
  /** the image whose name prefixes imgplan's own dm names in map mode */
  readonly owner: string;
  readonly pvs: readonly VgPv[];
  /** LVs to activate, sorted by name */
  readonly lvs: readonly LvmLv[];
  readonly readOnly: boolean;
  /** host VGs with the same name */
  readonly clash: readonly HostVg[];
}

export const vgAddress = (image: string, vg: string) => `vg:${image}/${vg}`;

/** device-mapper names double every "-" inside a VG or LV name, then join them with one. */
const mangle = (s: string) => s.replace(/-/g, '--');

/** The dm name under which an LV appears: LVM's own, or imgplan's in map mode. */
export function lvMapName(vg: Pick<DesiredVg, 'mode' | 'owner' | 'name'>, lv: string): string {
  return vg.mode === 'lvm' ? `${mangle(vg.name)}-${mangle(lv)}` : `imgplan-${vg.owner}-${mangle(vg.name)}-${mangle(lv)}`;
}

export const lvDevicePath = (vg: Pick<DesiredVg, 'mode' | 'owner' | 'name'>, lv: string) => `/dev/mapper/${lvMapName(vg, lv)}`;

/** dm UUIDs: LVM's are "LVM-" + VG UUID + LV UUID without dashes; imgplan's own say so. */
export const lvmDmUuid = (vgUuid: string, lvUuid: string) => `LVM-${vgUuid.replace(/-/g, '')}${lvUuid.replace(/-/g, '')}`;
export const imgplanDmUuid = (vgUuid: string, lvUuid: string) => `IMGPLAN-${vgUuid.replace(/-/g, '')}-${lvUuid.replace(/-/g, '')}`;

/** LVM's own rules for names (lvm(8) "VALID NAMES"): they end up in dm names, dm tables and --select. */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
/** An LVM UUID as its metadata writes it: 32 alphanumerics in groups of 6-4-4-4-4-4-6. */
const LVM_UUID = /^[A-Za-z0-9]{6}(-[A-Za-z0-9]{4}){5}-[A-Za-z0-9]{6}$/;

/**
 * What in a VG's metadata (read from image bytes, so attacker-controlled) breaks LVM's rules:
 * such text is never placed in a command, a dm table or a selection, where its characters
 * would have meaning. JSON.stringify quotes it exactly; the text view escapes it.
 */
export function notLvmSafe(vg: LvmVg): string[] {
  const out: string[] = [];
  const name = (what: string, s: string) => {
    if (!LVM_NAME.test(s) || s === '.' || s === '..') out.push(`${what} name ${JSON.stringify(s)}`);
  };
  const uuid = (what: string, s: string) => {
    if (!LVM_UUID.test(s)) out.push(`${what} uuid ${JSON.stringify(s)}`);
  };
  name('a VG', vg.name);
  uuid('a VG', vg.uuid);
  for (const pv of vg.pvs) uuid(`physical volume ${JSON.stringify(pv.key)}'s`, pv.uuid);
  for (const lv of vg.lvs) {
    name('an LV', lv.name);
    uuid(`LV ${JSON.stringify(lv.name)}'s`, lv.uuid);
  }
  return out;
}

/** Why imgplan cannot activate an LV read-only, or undefined when it can (linear or striped). */
export function notActivatable(lv: LvmLv): string | undefined {
  if (!lv.status.includes('VISIBLE')) return `${lv.name} is an internal LV (not visible), which is activated through the LV that uses it`;
  const other = lv.segments.find((s) => s.type !== 'striped');
  if (!other) return lv.segments.length ? undefined : `${lv.name} has no segments`;
  const what: Record<string, string> = {
    thin: 'a thin volume', 'thin-pool': 'a thin pool', snapshot: 'a snapshot', cache: 'a cached LV', 'cache-pool': 'a cache pool',
    mirror: 'a mirror', vdo: 'a VDO volume',
  };
  const kind = what[other.type] ?? (other.type.startsWith('raid') ? `a ${other.type} LV` : `an LV of segment type ${other.type}`);
  return `${lv.name} is ${kind}; imgplan activates only linear and striped LVs, which it can map read-only without writing LVM metadata`;
}

/**
 * The LV's device-mapper table, one line per segment, for `dmsetup create --concise` (map mode):
 * the same linear and striped targets LVM would load, read from the guest's metadata.
 * `device` gives each PV's device as an argument piece (a ref until the attach has run).
 */
export function lvTable<T>(vg: LvmVg, lv: LvmLv, device: (pvKey: string) => T): (string | T)[] {
  const es = vg.extentSize;
  const pvs = new Map(vg.pvs.map((p) => [p.key, p]));
  const out: (string | T)[] = [];
  for (const [i, seg] of lv.segments.entries()) {
    if (i) out.push(',');
    const start = seg.startExtent * es;
    const length = seg.extentCount * es;
    const at = (s: { pv: string; pe: number }) => pvs.get(s.pv)!.peStart + s.pe * es;
    if (seg.stripes.length === 1) {
      out.push(`${start} ${length} linear `, device(seg.stripes[0]!.pv), ` ${at(seg.stripes[0]!)}`);
    } else {
      out.push(`${start} ${length} striped ${seg.stripes.length} ${seg.stripeSize ?? 128}`);
      for (const s of seg.stripes) out.push(' ', device(s.pv), ` ${at(s)}`);
    }
  }
  return out;
}

/** A PV found on one of the manifest's images. */
interface FoundPv {
  readonly uuid: string;
  readonly image: ImageSpec;
  readonly storage: string;
  readonly vg?: LvmVg;
}

function foundPvs(manifest: Manifest, obs: ObservedState): FoundPv[] {
  const out: FoundPv[] = [];
  for (const image of manifest.images) {
    for (const [storage, pv] of Object.entries(obs.images[image.name]?.lvm ?? {})) {
      if (pv.pvUuid) out.push({ uuid: pv.pvUuid, image, storage, ...(pv.vg ? { vg: pv.vg } : {}) });
    }
  }
  return out;
}

export interface VgRequest {
  readonly image: ImageSpec;
  readonly vg: string;
  /** LV names wanted (empty: every activatable LV, for volume_groups) */
  readonly lvs: readonly string[];
  readonly what: string;
  readonly at: SourcePos;
}

/** Turns the PV that holds part of a VG into an attach (the caller owns attaches). */
export type AttachPv = (image: ImageSpec, storage: string, asker: { what: string; at: SourcePos }) => { attach: string; sourceAttr: string } | undefined;

/**
 * The VGs the manifest needs, each found by name on the named image's PVs and then handled by
 * UUID: all its PVs must be on the manifest's images, its LVs must be ones imgplan can activate
 * read-only, and its name must not clash with a host VG (or with another guest VG) unless the
 * image says vg_name_clash: map.
 */
export function desiredVgs(manifest: Manifest, obs: ObservedState, requests: readonly VgRequest[], attachPv: AttachPv,
  diags: Diagnostic[]): Map<string, DesiredVg> {
  const pvs = foundPvs(manifest, obs);
  const byUuid = new Map<string, DesiredVg>();
  // the newest metadata of each VG, over all its PVs that carry a copy
  const meta = new Map<string, LvmVg>();
  for (const p of pvs) if (p.vg && (meta.get(p.vg.uuid)?.seqno ?? -1) < p.vg.seqno) meta.set(p.vg.uuid, p.vg);
  const guestUuids = new Set(meta.keys());
  const hostVgs = (obs.hostVgs ?? []).filter((h) => !guestUuids.has(h.uuid));

  const copies = (vg: LvmVg) => pvs.filter((p) => p.vg?.uuid === vg.uuid).map((p) => `${p.image.name}/${p.storage}`).join(', ');
  const badMetadata = (r: VgRequest, which: string, vg: LvmVg, bad: readonly string[]) => error('lvm-bad-metadata',
    `${which} (read from ${copies(vg)}) holds ${bad.join('; ')}, which LVM itself never writes; imgplan uses none of it`,
    r.at, 'the metadata was made or altered by something other than LVM: open a copy of the image by hand, or with libguestfs');

  for (const r of requests) {
    const onImage = [...new Set(pvs.filter((p) => p.image.name === r.image.name && p.vg).map((p) => p.vg!.uuid))].map((u) => meta.get(u)!);
    const matches = onImage.filter((v) => v.name === r.vg);
    // a VG whose name breaks LVM's rules cannot be named in a manifest: say what is wrong with it,
    // not just that the wanted VG is missing (and never list its name as one to choose)
    const hostile = matches.length ? [] : onImage.map((v) => [v, notLvmSafe(v)] as const).filter(([, bad]) => bad.length);
    for (const [v, bad] of hostile) {
      diags.push(badMetadata(r, `image ${r.image.name} has no LVM volume group ${r.vg}; the LVM metadata it has`, v, bad));
    }
    if (hostile.length) continue;
    if (matches.length !== 1) {
      const names = [...new Set(onImage.map((v) => v.name))];
      diags.push(error(
        'no-such-vg',
        matches.length
          ? `image ${r.image.name} holds two volume groups named ${r.vg} (uuids ${matches.map((v) => v.uuid).join(', ')})`
          : `image ${r.image.name} has no LVM volume group ${r.vg}`,
        r.at,
        names.length
          ? `volume groups found on ${r.image.name}: ${names.join(', ')}`
          : `no LVM physical volume with metadata was found on ${r.image.name} (blkid finds LVM2_member where there is one)`,
      ));
      continue;
    }
    const vg = matches[0]!;
    const bad = notLvmSafe(vg);
    if (bad.length) {
      diags.push(badMetadata(r, `the LVM metadata of volume group ${r.vg}`, vg, bad));
      continue;
    }
    if (!obs.kernel.deviceMapper) {
      diags.push(error('no-device-mapper', `${r.what} needs device-mapper, which this kernel has not loaded`, r.at,
        'load it (modprobe dm_mod); LVM volumes cannot be exposed without it'));
      continue;
    }
    let d = byUuid.get(vg.uuid);
    if (!d) {
      d = startVg(vg, r, pvs, hostVgs, [...byUuid.values()], attachPv, obs, diags);
      if (!d) continue;
      byUuid.set(vg.uuid, d);
    }
    const wanted = r.lvs.length ? r.lvs : vg.lvs.filter((lv) => !notActivatable(lv)).map((lv) => lv.name);
    const add: LvmLv[] = [];
    for (const name of wanted) {
      const lv = vg.lvs.find((l) => l.name === name);
      if (!lv) {
        diags.push(error('no-such-lv', `volume group ${vg.name} (on ${r.image.name}) has no logical volume ${name}`, r.at,
          `its logical volumes: ${vg.lvs.filter((l) => l.status.includes('VISIBLE')).map((l) => l.name).join(', ') || 'none'}`));
        continue;
      }
      const why = notActivatable(lv);
      if (why) {
        diags.push(error('lv-not-activatable', `${r.what}: ${why}`, r.at, 'open this image with libguestfs (guestmount), or activate it by hand on a copy'));
        continue;
      }
      add.push(lv);
    }
    const lvs = [...new Map([...d.lvs, ...add].map((l) => [l.name, l])).values()].sort((a, b) => a.name.localeCompare(b.name));
    byUuid.set(vg.uuid, { ...d, lvs });
  }
  return byUuid;
}

function startVg(vg: LvmVg, r: VgRequest, pvs: readonly FoundPv[], hostVgs: readonly HostVg[], others: readonly DesiredVg[], attachPv: AttachPv,
  obs: ObservedState, diags: Diagnostic[]): DesiredVg | undefined {
  const members: VgPv[] = [];
  const images = new Set<ImageSpec>();
  let missing = false;
  for (const p of vg.pvs) {
    const found = pvs.find((x) => x.uuid === p.uuid);
    if (!found) {
      missing = true;
      diags.push(error('vg-pv-missing',
        `volume group ${vg.name} (uuid ${vg.uuid}) needs physical volume ${p.uuid} (${p.key}` +
          `${p.device ? `, last seen in the guest as ${p.device}` : ''}${p.devSize ? `, ${humanBytes(p.devSize * 512)}` : ''})` +
          `, which is on none of the manifest's images`,
        r.at, 'add the image that holds it to images:, so that the whole VG can be attached'));
      continue;
    }
    const a = attachPv(found.image, found.storage, { what: r.what, at: r.at });
    if (!a) {
      missing = true;
      continue;
    }
    images.add(found.image);
    members.push({ uuid: p.uuid, key: p.key, image: found.image.name, storage: found.storage, ...a });
  }
  if (missing) return undefined;
  const access = new Set([...images].map((i) => i.access));
  if (access.size > 1) {
    diags.push(error('vg-mixed-access',
      `volume group ${vg.name} has PVs on read-only and read-write images (${[...images].map((i) => `${i.name}: ${i.access}`).join(', ')})`,
      r.at, 'give all its images the same access'));
    return undefined;
  }
  const clash = [
    ...hostVgs.filter((h) => h.name === vg.name),
    ...others.filter((o) => o.name === vg.name && o.mode === 'lvm').map((o) => ({ name: o.name, uuid: o.uuid, lvCount: o.meta.lvs.length })),
  ];
  const mode = clash.length && r.image.vgNameClash === 'map' ? 'map' : 'lvm';
  if (clash.length && mode === 'lvm') {
    const whose = clash.map((c) => (others.some((o) => o.uuid === c.uuid)
      ? `another guest VG of this manifest (uuid ${c.uuid})`
      : `the host's VG (uuid ${c.uuid})`)).join(' and ');
    diags.push(error('vg-name-clash',
      `volume group ${vg.name} on image ${r.image.name} (uuid ${vg.uuid}) has the same name as ${whose}: ` +
        `every LVM command by name would be ambiguous, and its LVs would take the /dev/mapper/${mangle(vg.name)}-* names`,
      r.at,
      `set vg_name_clash: map on image ${r.image.name}: imgplan then maps the guest's LVs itself, read-only, ` +
        `as /dev/mapper/imgplan-${r.image.name}-${mangle(vg.name)}-<LV>, leaving the host's VG and the image untouched ` +
        `(never vgrename or vgimportclone the evidence)`));
    return undefined;
  }
  if (mode === 'lvm' && obs.hostVgs === null) {
    diags.push(error('no-lvm', `${r.what} needs LVM's tools, which are not installed`, r.at, missingToolHint('lvm', 'install them')));
    return undefined;
  }
  return {
    kind: 'vg', address: vgAddress(members[0]?.image ?? r.image.name, vg.name), name: vg.name, uuid: vg.uuid, meta: vg, mode,
    owner: members[0]?.image ?? r.image.name, pvs: members, lvs: [], readOnly: [...images].every((i) => i.access === 'read-only'), clash,
  };
}
