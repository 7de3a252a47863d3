/** A problem found while loading a manifest or planning: a value until the CLI renders it. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly code: string;
  readonly message: string;
  readonly at?: SourcePos;
  readonly hint?: string;
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

export function error(code: string, message: string, at?: SourcePos, hint?: string): Diagnostic {
  return { severity: 'error', code, message, ...(at ? { at } : {}), ...(hint ? { hint } : {}) };
}

export function warning(code: string, message: string, at?: SourcePos, hint?: string): Diagnostic {
  return { severity: 'warning', code, message, ...(at ? { at } : {}), ...(hint ? { hint } : {}) };
}
