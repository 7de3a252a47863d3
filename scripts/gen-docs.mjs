#!/usr/bin/env node
// Writes imgplan(1), imgplan-manifest(5) and the bash and zsh completion under dist/share/ (or
// --out DIR), from the same sources as --help and validation, so that they cannot drift:
//
// - the commander program (dist/cli/program.js, built by tsc; walked, never run): commands,
//   arguments, options, their help text and the examples that --help shows;
// - src/errors.ts's EXIT (dist/errors.js) and the README's "Exit codes" and "Environment" tables;
// - schemas/manifest.schema.json (every field, its type, values, default) and the README's
//   "Manifest reference" (each field's text, the rules, the example). The build fails when the
//   README's field table and the schema name different fields, or the exit code table and EXIT
//   different codes.
//
// Run by `npm run build:docs`, after the tsc build.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const OUT = outArg > 0 ? process.argv[outArg + 1] : join(ROOT, 'dist/share');

const { buildProgram, EXAMPLES, PROGRAM_EXAMPLES } = await import(join(ROOT, 'dist/cli/program.js'));
const { EXIT } = await import(join(ROOT, 'dist/errors.js'));
const { DEFAULT_STATE_DIR } = await import(join(ROOT, 'dist/journal/format.js'));
const { VERSION } = await import(join(ROOT, 'dist/version.js'));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'schemas/manifest.schema.json'), 'utf8'));

// A reproducible date: SOURCE_DATE_EPOCH (Debian's convention), else the README's mtime.
const DATE = new Date(process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : statSync(join(ROOT, 'README.md')).mtimeMs)
  .toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// The program, as data

const program = buildProgram();
const help = program.createHelp();

/** Every visible command, depth first, with its path ("debug capture-state"). */
function commands(cmd = program, path = []) {
  return help.visibleCommands(cmd).filter((c) => c.name() !== 'help').flatMap((c) => {
    const p = [...path, c.name()];
    return [{ cmd: c, path: p.join(' '), parent: cmd }, ...commands(c, p)];
  });
}
const COMMANDS = commands();
const isGroup = (c) => help.visibleCommands(c).length > 0;

/** What an option's value is, for completion: by its placeholder. */
const valueKind = (opt) => (!opt.required && !opt.optional ? undefined
  : /<(file|path)>/.test(opt.flags) ? 'file' : /<address>/.test(opt.flags) ? 'address' : 'text');
/** What a positional argument is, for completion: by its name. */
const argKind = (arg) => (arg.variadic && arg.name() === 'command' ? 'program'
  : ({ manifest: 'manifest', 'manifest-or-plan': 'manifest-or-plan', plan: 'plan', command: 'command' })[arg.name()] ?? 'file');

// ---------------------------------------------------------------------------------------------
// roff

/** Text for roff: backslashes, non-ASCII as groff's \[uXXXX], a leading . or ' kept as text. */
function esc(s) {
  return s.replace(/\\/g, '\\e').replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}
/** A literal (command, option, path): in bold, with minus signs that stay minus signs. */
const lit = (s) => `\\fB${esc(s).replace(/-/g, '\\-')}\\fR`;
const line = (s) => (/^[.']/.test(s) ? `\\&${s}` : s);
/** The README's words that point inside the README, as the man page says them. */
const MAN_WORDS = {
  'see **Lock** below': 'see LOCK below',
  'the rules above': 'the rules in imgplan-manifest(5)',
  ' The rescue example\'s graph, rendered:': '',
};
/** Markdown inline (`code`, **bold**, [text](link)) to roff. */
function md(s) {
  const words = Object.entries(MAN_WORDS).reduce((t, [from, to]) => t.replaceAll(from, to), s);
  const parts = words.replace(/!\[[^\]]*\]\([^)]*\)/g, '').replace(/\[([^\]]*)\]\(#[^)]*\)/g, '$1 (README)')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').split(/(`[^`]*`)/);
  return parts.map((p) => (p.startsWith('`') && p.endsWith('`') && p.length > 1 ? lit(p.slice(1, -1))
    : esc(p)
      .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR').replace(/(^|[\s(])\*([^*\s][^*]*)\*/g, '$1\\fI$2\\fR'))).join('');
}
/** A paragraph: one input line (roff fills it), never starting with a control character. */
const para = (s) => line(md(s.replace(/\s*\n\s*/g, ' ').trim()));
/** Example text kept as it is (.EX/.EE, no filling). */
const verbatim = (text) => ['.EX', ...text.split('\n').map((l) => line(esc(l).replace(/-/g, '\\-'))), '.EE'];

// ---------------------------------------------------------------------------------------------
// README sections

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(title) {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '') === title);
  if (start < 0) throw new Error(`README.md has no section "${title}"`);
  const level = lines[start].match(/^#+/)[0].length;
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && l.match(/^#+/)[0].length <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}
/** The rows of the first Markdown table in a text, cells trimmed (a `|` inside backticks stays). */
function table(text) {
  const rows = text.split('\n').filter((l) => /^\|/.test(l)).map((l) => {
    const cells = [];
    let cell = '';
    let code = false;
    for (const ch of l.slice(1)) {
      if (ch === '`') code = !code;
      if (ch === '|' && !code) (cells.push(cell.trim()), (cell = ''));
      else cell += ch;
    }
    return cells;
  });
  return rows.slice(2);
}
/** The top-level bullets of a Markdown list, each joined into one line (sub-bullets and images left out). */
function bullets(text) {
  const items = [];
  for (const l of text.split('\n')) {
    if (/^- /.test(l)) items.push(l.slice(2));
    else if (/^ {2}\S/.test(l) && items.length && !/^ {2}(- |!\[)/.test(l)) items[items.length - 1] += ` ${l.trim()}`;
    else if (/^ {2}- /.test(l)) items.push(null);
    else if (!/^\s/.test(l) && l.trim() && items.length) break;
  }
  return items.filter((x) => x !== null);
}
/** The paragraphs of a text that are plain prose (not lists, tables, code or headings). */
function paragraphs(text, withCode = false) {
  const blocks = text.split(/(```[a-z]*\n[\s\S]*?```)/);
  return blocks.flatMap((b) => (b.startsWith('```') ? (withCode ? [b] : []) : b.split(/\n\s*\n/).map((p) => p.trim())
    .filter((p) => p && !/^([-|#!]|\d+\.)/.test(p))));
}
/** Paragraphs (and, as examples, code blocks) as roff, separated by .PP. */
const prose = (ps) => ps.flatMap((p, i) => [...(i ? ['.PP'] : []),
  ...(p.startsWith('```') ? verbatim(p.replace(/^```[a-z]*\n/, '').replace(/\n?```$/, '')) : [para(p)])]);

// ---------------------------------------------------------------------------------------------
// imgplan(1)

function usage(c) {
  const opts = help.visibleOptions(c).filter((o) => o.long !== '--help').map((o) => {
    const v = o.flags.match(/[<[]([^>\]]+)[>\]]/);
    return `.RB [ ${o.long.replace(/-/g, '\\-')}${v ? `\n.IR ${v[1]} ]` : ' ]'}`;
  });
  const args = help.visibleArguments(c).map((a) => (a.required ? `.I ${a.name()}` : `.RI [ ${a.name()} ]`));
  return ['.SY', `.B "imgplan ${COMMANDS.find((x) => x.cmd === c).path}"`, ...opts, ...args, '.YS'].join('\n').replace(/^\.SY\n\.B /, '.SY ');
}

/** The Commands section's own text, before its subsections (Saved plans, JSON, …). */
const commandsText = () => section('Commands').split(/\n### /)[0];

/** The README's own paragraph about a command (its bullet under "Commands"), if there is one. */
function readmeAbout(path) {
  const item = bullets(commandsText()).find((b) => b.startsWith(`**${path}**`));
  return item ? item.replace(/^\*\*[^*]+\*\*\s*/, '') : undefined;
}

function exitStatus() {
  const rows = table(section('Exit codes'));
  const codes = rows.flatMap((r) => r[0].split(/,\s*/).map(Number));
  const want = [...new Set(Object.values(EXIT))].sort((a, b) => a - b);
  if (JSON.stringify([...codes].sort((a, b) => a - b)) !== JSON.stringify(want)) {
    throw new Error(`README's exit codes (${codes.join(', ')}) are not src/errors.ts's EXIT (${want.join(', ')})`);
  }
  return rows.flatMap(([code, meaning]) => ['.TP', `.B ${code}`, para(meaning)]);
}

function manPage1() {
  const name = 'imgplan';
  const out = [
    `.\\" Generated by scripts/gen-docs.mjs from imgplan's command line, README.md and src/errors.ts; do not edit.`,
    `.TH IMGPLAN 1 ${DATE} "imgplan ${VERSION}" "User Commands"`,
    '.SH NAME',
    `${name} \\- ${esc(program.description().replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase()))}`,
    '.SH SYNOPSIS',
    ...COMMANDS.filter((x) => !isGroup(x.cmd)).map((x) => usage(x.cmd)),
    '.SY imgplan', '.BR \\-\\-version " | " \\-\\-help', '.YS',
    '.SH DESCRIPTION',
    ...paragraphs(README.split(/\n## /)[0].replace(/^# .*\n/, '')).slice(0, 1).map(para),
    '.PP',
    para('Every object has an address: `attach:IMAGE` or `attach:IMAGE/partN` (a loop device), `partmap:IMAGE` (kpartx maps), '
      + '`vg:IMAGE/VG` (an activated LVM volume group), `export:IMAGE` or `nbd:IMAGE` (QEMU), `dir:PATH` (a mountpoint directory '
      + 'imgplan creates) and `mount:PATH`; `--target` takes one.'),
    '.PP',
    para('The manifest, `imgplan.yaml` unless named, is described in imgplan-manifest(5).'),
    '.SH COMMANDS',
  ];
  for (const { cmd, path } of COMMANDS) {
    out.push('.TP', `${lit(`imgplan ${path}`)}${help.visibleArguments(cmd).map((a) => ` ${a.required ? '' : '['}\\fI${a.name()}\\fR${a.required ? '' : ']'}`).join('')}`);
    out.push(line(esc(cmd.description())));
    const about = readmeAbout(path);
    if (about) out.push('.IP', para(about));
    const args = help.visibleArguments(cmd).filter((a) => a.description);
    const opts = help.visibleOptions(cmd).filter((o) => o.long !== '--help');
    if (args.length || opts.length) {
      out.push('.RS');
      for (const a of args) out.push('.TP', `.I ${a.name()}`, line(esc(help.argumentDescription(a))));
      for (const o of opts) {
        const v = o.flags.match(/[<[]([^>\]]+)[>\]]/);
        out.push('.TP', `${lit(o.flags.replace(/\s*[<[].*$/, ''))}${v ? ` \\fI${v[1]}\\fR` : ''}`, line(esc(help.optionDescription(o))));
      }
      out.push('.RE');
    }
  }
  const text = paragraphs(commandsText(), true).filter((p) => !/^`MANIFEST`|^```\n/.test(p));
  const lock = text.findIndex((p) => p.startsWith('**Lock**'));
  out.push('.PP', ...prose(text.slice(0, lock)));
  out.push('.SH LOCK', ...prose(text.slice(lock).map((p) => p.replace(/^\*\*Lock\*\*: /, ''))));
  out.push('.SH OPTIONS',
    para('Each command\'s options are listed with it under COMMANDS; every command also takes `-h`, `--help` (its usage and examples).'));
  for (const o of help.visibleOptions(program)) out.push('.TP', lit(o.flags), line(esc(help.optionDescription(o))));
  out.push('.SH "EXIT STATUS"', ...exitStatus());
  out.push('.SH ENVIRONMENT', ...table(section('Environment')).flatMap(([v, effect]) => ['.TP', md(v), para(effect)]));
  out.push('.SH FILES',
    '.TP', lit('imgplan.yaml'), 'The manifest a command reads when none is named.',
    '.TP', lit(`${DEFAULT_STATE_DIR}/journal/`),
    para('One journal per manifest (`KEY.json`, KEY derived from the manifest\'s real path): what apply made, which destroy removes.'),
    '.TP', lit(`${DEFAULT_STATE_DIR}/lock`),
    para('The host-wide lock: apply and destroy hold it exclusive, plan and graph shared; a `flock(2)` lock, so never stale. Do not remove it.'),
    '.TP', lit(`${DEFAULT_STATE_DIR}/lock.holders/`), para('Who holds the lock, one file per holder.'),
    '.PP', para('`IMGPLAN_STATE_DIR` moves all of these.'));
  out.push('.SH EXAMPLES');
  for (const [path, examples] of [['', PROGRAM_EXAMPLES], ...Object.entries(EXAMPLES)]) {
    if (path) out.push('.SS', `.SS "${path}"`);
    out.push(...verbatim(examples.map((e) => `# ${e.says}\n${e.command}`).join('\n\n')));
  }
  out.push('.SH "SEE ALSO"',
    ['imgplan-manifest 5', 'losetup 8', 'kpartx 8', 'lvm 8', 'mount 8', 'findmnt 8', 'blkid 8', 'sfdisk 8', 'qemu-img 1', 'qemu-nbd 8',
      'qemu-storage-daemon 1', 'dot 1'].map((s, i, all) => `.BR ${s.replace(' ', ' (')})${i < all.length - 1 ? ' ,' : ''}`).join('\n'),
    '.PP', 'The README in imgplan\'s source holds the full reference: plans, saved plans, JSON, ownership, attach backends, QEMU, LVM, Windows.');
  return `${out.filter((l) => l !== '.SS').join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// imgplan-manifest(5)

/** The schema's fields, as the README names them, with what the schema says of each. */
function schemaFields() {
  const fields = [];
  const add = (prefix, node, required) => {
    for (const [k, v] of Object.entries(node.properties ?? {})) {
      fields.push({ name: `${prefix}${k}`, schema: v, required: required.includes(k) });
      const ref = v.$ref ?? v.additionalProperties?.$ref ?? v.items?.$ref;
      if (ref) {
        const def = SCHEMA.$defs[ref.replace('#/$defs/', '')];
        add(v.type === 'array' ? `${prefix}${k}[].` : `${prefix}${k}.NAME.`, def, def.required ?? []);
      }
    }
  };
  add('', SCHEMA, SCHEMA.required ?? []);
  return fields;
}

function typeOf(s) {
  if (s.const !== undefined) return `always ${JSON.stringify(s.const)}`;
  if (s.enum) return `one of ${s.enum.join(', ')}`;
  if (s.type === 'array') return `a list of ${s.items?.type ? `${s.items.type}s` : 'objects'}`;
  if (s.type === 'object') return 'a map';
  return s.type === 'boolean' ? 'true or false' : s.type;
}

function manPage5() {
  const rows = new Map(table(section('Manifest reference')).map(([f, req, meaning]) => [f.replace(/`/g, ''), { req, meaning }]));
  const fields = schemaFields();
  const names = fields.map((f) => f.name);
  const onlyReadme = [...rows.keys()].filter((n) => !names.includes(n));
  const onlySchema = names.filter((n) => !rows.has(n));
  if (onlyReadme.length || onlySchema.length) {
    throw new Error(`README's manifest reference and schemas/manifest.schema.json differ: only in the README: ${onlyReadme.join(', ') || 'none'}; `
      + `only in the schema: ${onlySchema.join(', ') || 'none'}`);
  }
  const ref = section('Manifest reference');
  const example = ref.match(/```yaml\n([\s\S]*?)```/)[1].trimEnd();
  const rules = bullets(ref.slice(ref.indexOf('\nRules:')));
  const out = [
    `.\\" Generated by scripts/gen-docs.mjs from schemas/manifest.schema.json and README.md; do not edit.`,
    `.TH IMGPLAN-MANIFEST 5 ${DATE} "imgplan ${VERSION}" "File Formats"`,
    '.SH NAME',
    'imgplan-manifest \\- the YAML manifest that imgplan(1) plans, applies and destroys',
    '.SH SYNOPSIS',
    lit('imgplan.yaml'),
    '.SH DESCRIPTION',
    para(SCHEMA.description),
    '.PP',
    ...paragraphs(ref).filter((p) => !/^More in|^Rules:/.test(p)).flatMap((p) => [para(p), '.PP']),
    para('The JSON Schema is `schemas/manifest.schema.json` in imgplan\'s source; `imgplan validate` checks a manifest against it and the rules below.'),
    '.SH FIELDS',
  ];
  for (const f of fields) {
    const bits = [f.required ? 'required' : 'optional', typeOf(f.schema), ...(f.schema.default !== undefined ? [`default ${JSON.stringify(f.schema.default)}`] : [])];
    out.push('.TP', `${lit(f.name)} (${esc(bits.join('; '))})`, para(rows.get(f.name).meaning));
  }
  out.push('.SH RULES', ...rules.flatMap((r) => ['.IP \\(bu 2', para(r)]));
  out.push('.SH EXAMPLE', ...verbatim(example));
  out.push('.SH "SEE ALSO"', '.BR imgplan (1)');
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// bash completion

const shq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function bashCompletion() {
  const leaves = COMMANDS.filter((x) => !isGroup(x.cmd));
  const groups = [{ cmd: program, path: '' }, ...COMMANDS.filter((x) => isGroup(x.cmd))];
  const flagsOf = (c) => help.visibleOptions(c).flatMap((o) => [o.long, o.short].filter(Boolean));
  const valued = [...new Set(COMMANDS.flatMap((x) => help.visibleOptions(x.cmd).filter(valueKind).flatMap((o) => [o.long, o.short].filter(Boolean)
    .map((f) => `${shq(`${x.path}|${f}`)}) echo ${valueKind(o)} ;;`))))];
  return `# bash completion for imgplan(1)
# Generated by scripts/gen-docs.mjs from imgplan's command line (the program --help shows); do not edit.
# Completes commands, options, manifest files (*.yaml, *.yml), saved plans (*.plan) and, for
# --target, the addresses "imgplan __complete addresses MANIFEST" prints (parsed from the manifest
# and its journal; no probe, no root needed).

# The subcommand WORD of command PATH, if it is one.
_imgplan_sub() {
  case "$1|$2" in
${groups.flatMap((g) => help.visibleCommands(g.cmd).map((c) => `    ${shq(`${g.path}|${c.name()}`)}) echo ${shq(g.path ? `${g.path} ${c.name()}` : c.name())} ;;`)).join('\n')}
    *) return 1 ;;
  esac
}

# The subcommands of PATH (empty for a command that takes none).
_imgplan_subs() {
  case "$1" in
${groups.map((g) => `    ${shq(g.path)}) echo ${shq(help.visibleCommands(g.cmd).map((c) => c.name()).join(' '))} ;;`).join('\n')}
  esac
}

# The options of PATH.
_imgplan_flags() {
  case "$1" in
${[...groups, ...leaves].map((x) => `    ${shq(x.path)}) echo ${shq(flagsOf(x.cmd).join(' '))} ;;`).join('\n')}
  esac
}

# What the value of option FLAG of PATH is (file, address, text); nothing for a flag without one.
_imgplan_value() {
  case "$1|$2" in
${valued.map((v) => `    ${v}`).join('\n')}
  esac
}

# What positional argument N (from 0) of PATH is (manifest, manifest-or-plan, plan, command, program, file).
_imgplan_arg() {
  case "$1|$2" in
${leaves.flatMap((x) => help.visibleArguments(x.cmd).flatMap((a, i) => [`    ${shq(`${x.path}|${i}`)}) echo ${argKind(a)} ;;`,
    // a variadic argument goes on (exec's COMMAND ARG…: a program, then its arguments, files)
    ...(a.variadic ? [`    ${shq(`${x.path}|`)}*) echo ${argKind(a) === 'program' ? 'file' : argKind(a)} ;;`] : [])])).join('\n')}
    'help|0') echo command ;;
  esac
}

# Files of KIND that start with CUR, and folders (to go into).
_imgplan_files() {
  local kind=$1 cur=$2 f
  case $kind in
    manifest) compgen -f -X '!*.yaml' -- "$cur"; compgen -f -X '!*.yml' -- "$cur" ;;
    plan) f=$(compgen -f -X '!*.plan' -- "$cur"); if [[ -n $f ]]; then echo "$f"; else compgen -f -- "$cur"; fi ;;
    manifest-or-plan) compgen -f -X '!*.yaml' -- "$cur"; compgen -f -X '!*.yml' -- "$cur"; compgen -f -X '!*.plan' -- "$cur" ;;
    *) compgen -f -- "$cur" ;;
  esac
  compgen -d -- "$cur"
}

# The addresses of manifest (or saved plan) FILE, from imgplan itself (the one being completed).
_imgplan_addresses() {
  local bin=\${_imgplan_words[0]:-imgplan}
  command -v "$bin" >/dev/null 2>&1 || bin=imgplan
  "$bin" __complete addresses "\${1:-imgplan.yaml}" 2>/dev/null
}

_imgplan() {
  # bash splits words at ":" (COMP_WORDBREAKS): join "mount" ":" "/mnt/x" back into one word
  local -a _imgplan_words=()
  local i w cword=0
  for ((i = 0; i < \${#COMP_WORDS[@]}; i++)); do
    w=\${COMP_WORDS[i]}
    if ((i > 1)) && [[ $w == : || \${COMP_WORDS[i-1]} == : ]]; then
      _imgplan_words[\${#_imgplan_words[@]}-1]+=$w
    else
      _imgplan_words+=("$w")
    fi
    ((i == COMP_CWORD)) && cword=$((\${#_imgplan_words[@]} - 1))
  done
  local cur=\${_imgplan_words[cword]} prev= path= n=0 file= kind= sub
  ((cword > 0)) && prev=\${_imgplan_words[cword-1]}
  [[ $cur == : ]] && cur=
  [[ $prev == *: && \${COMP_WORDS[COMP_CWORD]} == : ]] && cur=$prev prev=\${_imgplan_words[cword-2]}
  # the command path, and the positional arguments before the cursor
  # (the manifest may come after the cursor: imgplan plan --target <TAB> rescue.yaml)
  for ((i = 1; i < \${#_imgplan_words[@]}; i++)); do
    ((i == cword)) && continue
    w=\${_imgplan_words[i]}
    if [[ $w == -* ]]; then
      [[ -n $(_imgplan_value "$path" "$w") ]] && ((i++))
    elif ((i < cword)) && [[ $n == 0 ]] && sub=$(_imgplan_sub "$path" "$w"); then
      path=$sub
    elif ((i < cword)); then
      [[ $n == 0 ]] && file=$w
      ((n++))
    elif [[ -z $file ]]; then
      file=$w
    fi
  done
  COMPREPLY=()
  kind=$(_imgplan_value "$path" "$prev")
  if [[ -n $kind ]]; then
    case $kind in
      address)
        while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(_imgplan_addresses "$file")
        # what bash will put back after the last ":" of the word
        if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
          local colon=\${cur%"\${cur##*:}"}
          COMPREPLY=("\${COMPREPLY[@]#"$colon"}")
        fi ;;
      file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(_imgplan_files file "$cur" | sort -u) ;;
    esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_imgplan_flags "$path")" -- "$cur")
    return 0
  fi
  local subs
  subs=$(_imgplan_subs "$path")
  if [[ -n $subs && $n == 0 ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
    return 0
  fi
  kind=$(_imgplan_arg "$path" "$n")
  case $kind in
    '') ;;
    command) mapfile -t COMPREPLY < <(compgen -W "$(_imgplan_subs '')" -- "$cur") ;;
    program) mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u) ;;
    *) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(_imgplan_files "$kind" "$cur" | sort -u) ;;
  esac
  return 0
}

complete -F _imgplan imgplan
`;
}

// ---------------------------------------------------------------------------------------------
// zsh completion

/** zsh's _arguments description: in [], single-quoted. */
const zdesc = (s) => s.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/'/g, `'\\''`);
const zfn = (path) => `_imgplan_cmd${path ? `_${path.replace(/ /g, '_')}` : ''}`;
const zaction = { file: '_files', address: '_imgplan_addresses', text: ' ', manifest: '_imgplan_manifest', 'manifest-or-plan': '_imgplan_manifest_or_plan',
  plan: '_imgplan_plan', command: '_imgplan_cmd_names' };

function zspec(o) {
  const kind = valueKind(o);
  const flags = [o.long, o.short].filter(Boolean);
  const d = zdesc(help.optionDescription(o));
  const value = kind ? `:${o.flags.match(/[<[]([^>\]]+)[>\]]/)[1]}:${zaction[kind]}` : '';
  const excl = o.long === '--help' || o.long === '--version' ? '(- *)' : '';
  return flags.length > 1 ? `'${excl}'{${flags.join(',')}}'[${d}]${value}'` : `'${excl}${flags[0]}[${d}]${value}'`;
}

/** The long options of the command whose arguments end in a program (exec): zsh offers them after its manifest. */
const programOptions = () => COMMANDS.filter((c) => c.cmd.registeredArguments.some((a) => argKind(a) === 'program'))
  .flatMap((c) => help.visibleOptions(c.cmd).map((o) => o.long).filter(Boolean)).join(' ');

function zshCompletion() {
  const fns = [];
  for (const x of [{ cmd: program, path: '' }, ...COMMANDS.filter((c) => c.path !== 'help')]) {
    const opts = help.visibleOptions(x.cmd).map(zspec);
    if (isGroup(x.cmd)) {
      const subs = help.visibleCommands(x.cmd).map((c) => `'${c.name()}:${zdesc(c.description()).replace(/:/g, '\\:')}'`);
      fns.push(`${zfn(x.path)}() {
  local curcontext=$curcontext state line ret=1
  typeset -A opt_args
  _arguments -C \\
    ${[...opts, `'1: :->command'`, `'*:: :->args'`].join(' \\\n    ')} && ret=0
  case $state in
    command)
      local -a subs
      subs=(${subs.join(' ')})
      _describe -t commands ${shq(`imgplan${x.path ? ` ${x.path}` : ''} command`)} subs && ret=0 ;;
    args)
      curcontext=\${curcontext%:*:*}:imgplan-$words[1]:
      if (( $+functions[${zfn(x.path)}_$words[1]] )); then ${zfn(x.path)}_$words[1] && ret=0; fi ;;
  esac
  return ret
}`);
    } else {
      // exec's COMMAND ARG…: zsh's own completion of a command line (_imgplan_program)
      const args = help.visibleArguments(x.cmd).map((a, i) => (argKind(a) === 'program' ? `'*::${a.name()}:_imgplan_program'`
        : `'${a.variadic ? '*' : i + 1}:${a.name()}:${zaction[argKind(a)]}'`));
      fns.push(`${zfn(x.path)}() {
  _arguments -s \\
    ${[...opts, ...args].join(' \\\n    ')}
}`);
    }
  }
  fns.push(`${zfn('help')}() {
  _arguments '1:command:_imgplan_cmd_names'
}`);
  const valued = [...new Set(COMMANDS.flatMap((x) => help.visibleOptions(x.cmd).filter(valueKind).flatMap((o) => [o.long, o.short].filter(Boolean))))];
  return `#compdef imgplan
# zsh completion for imgplan(1)
# Generated by scripts/gen-docs.mjs from imgplan's command line (the program --help shows); do not edit.
# Completes commands, options, manifest files (*.yaml, *.yml), saved plans (*.plan) and, for
# --target, the addresses "imgplan __complete addresses MANIFEST" prints (parsed from the manifest
# and its journal; no probe, no root needed).

_imgplan_manifest() { _files -g '*.(yaml|yml)(-.)' }
_imgplan_manifest_or_plan() { _files -g '*.(yaml|yml|plan)(-.)' }
_imgplan_plan() { _files -g '*.plan(-.)' }
# exec's COMMAND ARG…: words holds what follows the options, from the manifest (or from "--" when an
# option came between); past it and "--", zsh completes a command line of its own. Before "--", a word
# that starts with "-" is one of exec's own options (_arguments hands it here once the manifest is given)
_imgplan_program() {
  local i=\${words[(i)--]}
  if (( i >= CURRENT )) && [[ $PREFIX == -* ]]; then
    compadd -- ${programOptions()}
    return
  fi
  if (( i < CURRENT )); then
    shift $i words; (( CURRENT -= i ))
  elif (( CURRENT > 1 )); then
    shift words; (( CURRENT-- ))
  fi
  _normal
}
_imgplan_cmd_names() {
  local -a names
  names=(${help.visibleCommands(program).map((c) => c.name()).join(' ')})
  _describe -t commands 'imgplan command' names
}

# --target: the addresses of the manifest (or saved plan) on the command line, from imgplan itself
_imgplan_addresses() {
  local file=imgplan.yaml i skip=
  for ((i = 2; i < CURRENT; i++)); do
    if [[ -n $skip ]]; then skip=; continue; fi
    case $words[i] in
      ${valued.join('|')}) skip=1 ;;
      -*) ;;
      *) file=$words[i]; break ;;
    esac
  done
  local -a addrs
  addrs=(\${(f)"$(\${_imgplan_bin:-imgplan} __complete addresses \${~file} 2>/dev/null)"})
  _wanted addresses expl address compadd -a addrs
}

${fns.join('\n\n')}

_imgplan() {
  local _imgplan_bin=$words[1]
  (( $+commands[$_imgplan_bin] )) || [[ -x $_imgplan_bin ]] || _imgplan_bin=imgplan
  ${zfn('')} "$@"
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _imgplan "$@"
else
  compdef _imgplan imgplan
fi
`;
}

// ---------------------------------------------------------------------------------------------

function write(rel, text) {
  const p = join(OUT, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  return rel;
}

const written = [
  write('man/man1/imgplan.1', manPage1()),
  write('man/man5/imgplan-manifest.5', manPage5()),
  write('bash-completion/completions/imgplan', bashCompletion()),
  write('zsh/site-functions/_imgplan', zshCompletion()),
];
if (!process.argv.includes('--quiet')) process.stdout.write(`gen-docs: wrote ${written.map((w) => join(OUT, w)).join(', ')}\n`);
