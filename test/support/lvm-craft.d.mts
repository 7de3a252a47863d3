// Types of lvm-craft.mjs (plain JavaScript, like leaks.mjs).

export interface Mda {
  /** the metadata area's start, in bytes from the PV's start */
  readonly start: number;
  readonly size: number;
  /** the mda_header's checksum (of its bytes 4..511) */
  readonly headerCrc: number;
  /** the first raw location: where the current text is, from the area's start, and its size with LVM's trailing NUL */
  readonly textOffset: number;
  readonly textSize: number;
  /** calc_crc of the textSize bytes */
  readonly checksum: number;
  readonly flags: number;
  /** whether the text ends in a NUL (LVM writes one) */
  readonly nul: boolean;
  /** the text, without its NUL */
  readonly text: string;
}

export interface PvLayout {
  /** where the PV starts in the file, in bytes */
  readonly offset: number;
  /** where its label is, in bytes from the PV's start */
  readonly labelAt: number;
  readonly labelCrc: number;
  /** the PV's UUID as on disk (32 characters, no dashes) */
  readonly pvUuid: string;
  readonly mdas: readonly Mda[];
}

export const INITIAL_CRC: number;
/** LVM's calc_crc: CRC-32 (polynomial 0xEDB88320, reflected) from `crc` (INITIAL_CRC), no final xor. */
export function calcCrc(bytes: Uint8Array, crc?: number): number;
/** 32 characters → LVM's dashed 6-4-4-4-4-4-6 form. */
export function dashed(raw: string): string;
/** A new random LVM uuid, dashed. */
export function freshUuid(): string;
/** The PV's label and metadata areas, every checksum checked. */
export function readPv(file: string, offset?: number): PvLayout;
/** Rewrites the PV's current metadata text (and optionally its UUID) as LVM writes it; returns the new layout. */
export function craftPv(file: string, offset: number, change: { text?: (text: string) => string; pvUuid?: string }): PvLayout;
/** The one occurrence of `from` replaced by `to` (throws unless there is exactly one). */
export function replaceOnce(text: string, from: string, to: string): string;
/** A section name as LVM's parser reads it: bare, or quoted when it has to be. */
export function sectionName(name: string): string;
/** The one section `from` renamed to `to`. */
export function renameSection(text: string, from: string, to: string): string;
/** The `id` of section `section` set to `id` (quoted, escaped). */
export function setSectionId(text: string, section: string, id: string): string;
/** The `id` of section `section`. */
export function sectionId(text: string, section: string): string;
