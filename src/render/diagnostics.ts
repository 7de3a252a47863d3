import type { Diagnostic } from '../diagnostics.js';
import { printable } from '../printable.js';
import type { Style } from './style.js';

/**
 * `rescue.yaml:12:7: error: message`, the source line with a caret under the column, then the
 * hint. `source` is the manifest text when the diagnostic points into it.
 */
export function renderDiagnostic(d: Diagnostic, style: Style, source?: string): string {
  const where = d.at ? `${d.at.file}:${d.at.line}:${d.at.col}: ` : '';
  const sev = d.severity === 'error' ? style.red('error') : style.yellow('warning');
  // a message may quote what an image holds (a label, a name QEMU read from a header): shown, never interpreted
  const lines = [`${where}${sev}: ${printable(d.message)}`];
  if (d.at && source !== undefined) {
    const text = source.split('\n')[d.at.line - 1];
    if (text !== undefined && text.trim() !== '') {
      const num = String(d.at.line);
      lines.push(`  ${num} | ${printable(text)}`);
      lines.push(`  ${' '.repeat(num.length)} | ${' '.repeat(Math.max(0, d.at.col - 1))}^`);
    }
  }
  if (d.hint) lines.push(`  hint: ${printable(d.hint)}`);
  return lines.join('\n');
}

export function renderDiagnostics(ds: readonly Diagnostic[], style: Style, source?: string): string {
  const errors = ds.filter((d) => d.severity === 'error').length;
  const body = ds.map((d) => renderDiagnostic(d, style, d.at ? source : undefined)).join('\n');
  return errors ? `${body}\n${errors} error${errors === 1 ? '' : 's'}; nothing was changed.\n` : `${body}\n`;
}
