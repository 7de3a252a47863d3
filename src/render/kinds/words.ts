import type { DetailsOf, Kind, Reason, Ref } from '../../plan/types.js';

/** One line of a plan block: a label and its value (a ref is "(known after apply)"). */
export interface Row {
  readonly label: string;
  readonly value: string | Ref;
}

/** What a plan says of one kind of object: its verbs, its details as rows, its own wording of a reason. */
export interface KindWords<K extends Kind> {
  readonly create: string;
  readonly delete: string;
  rows(details: DetailsOf<K>): readonly Row[];
  /** where the general words for a reason do not fit this kind */
  readonly reasons?: Partial<Readonly<Record<Reason, string>>>;
}

/** Rows for the values that are there, in order. */
export const rows = (...xs: readonly (Row | false | undefined)[]): Row[] => xs.filter((x): x is Row => Boolean(x));
