// man/numadvisor.8 and man/numadvisor-numad.8 are generated (scripts/gen-man.mts) from man/*.8.md and the option
// tables the commands parse with: the committed pages must be what the generator makes now, and groff must render
// them without a warning.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_OPTIONS } from '../../src/cli/command-options.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { inline, MAN_PAGES, renderManPage, renderManPages, type ManPageFile } from '../../src/cli/man-pages.js';
import { NUMAD_LONG_OPTIONS, NUMAD_USAGE_OPTIONS } from '../../src/cli/numad-main.js';
import { VERSION } from '../../src/version.js';
import { REPO_DIR } from '../helpers/fixtures.js';

const MAN_DIR = path.join(REPO_DIR, 'man');
const sources = Object.fromEntries(MAN_PAGES.map((p) => [p.file, readFileSync(path.join(MAN_DIR, `${p.file}.md`), 'utf8')])) as Record<ManPageFile, string>;
const rendered = renderManPages(sources);
const groffInstalled = spawnSync('dpkg', ['-s', 'groff-base'], { encoding: 'utf8' }).status === 0;

/** What a reader sees: the page as groff formats it for a terminal, without overstriking. */
function asText(page: string): { text: string; warnings: string } {
  const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-P', '-cbou', '-rLL=200n'], { input: page, encoding: 'utf8' });
  return { text: r.stdout, warnings: r.stderr };
}

describe('man pages', () => {
  it.each(MAN_PAGES.map((p) => p.file))('man/%s is up to date with its source and the option tables (npx tsx scripts/gen-man.mts)', (file) => {
    expect(readFileSync(path.join(MAN_DIR, file), 'utf8')).toBe(rendered.get(file));
  });

  it.runIf(groffInstalled).each(MAN_PAGES.map((p) => p.file))('groff -man -Tutf8 -ww renders man/%s without a warning', (file) => {
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', path.join(MAN_DIR, file)], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.runIf(groffInstalled)('numadvisor(8) lists every command and every option of each, with its default', () => {
    const { text, warnings } = asText(rendered.get('numadvisor.8') ?? '');
    expect(warnings).toBe('');
    for (const [name, c] of Object.entries(COMMANDS)) {
      expect(text).toContain(`numadvisor ${name}${c.operands ? ` ${c.operands}` : ''}\n`);
      for (const [option, o] of Object.entries(COMMAND_OPTIONS[name as keyof typeof COMMANDS] ?? {})) {
        expect(text, `${name} --${option}`).toMatch(new RegExp(`(^| )(-${o.short ?? '\\b'}, )?--?${option}\\b`, 'm'));
        if (o.defaultText !== undefined) expect(text.replace(/\s+/g, ' ')).toContain(`Default: ${o.defaultText}.`);
      }
    }
  });

  it.runIf(groffInstalled)("numadvisor-numad(8) lists numad's options as numad -h does, our long options, and the differences", () => {
    const { text, warnings } = asText(rendered.get('numadvisor-numad.8') ?? '');
    expect(warnings).toBe('');
    for (const [syntax] of NUMAD_USAGE_OPTIONS) expect(text).toContain(syntax.replace(/[<>]/g, ''));
    for (const name of Object.keys(NUMAD_LONG_OPTIONS)) expect(text).toContain(`--${name}`);
    expect(text).toContain('DIFFERENCES FROM NUMAD');
  });

  it('the markdown subset: sections, bullets, definitions, code blocks, inline markup, escapes', () => {
    const page = renderManPage('X', ['# NAME', '', 'x - y', '', '## Sub', '- one `-a`', '  two', '', '`/path`', ': what *it* is', '', '```', '.dot \\ back', '```', '.starts with a dot – and a dash'].join('\n'));
    expect(page.split('\n').slice(1)).toEqual([
      `.TH X 8 "" "numadvisor ${VERSION}" "System Administration"`,
      '.SH NAME',
      '.PP',
      'x \\- y',
      '.SS Sub',
      '.IP \\(bu 2',
      'one \\fB\\%\\-a\\fR',
      'two',
      '.TP',
      '\\fB\\%/path\\fR',
      'what \\fIit\\fR is',
      '.PP',
      '.RS 4',
      '.nf',
      '\\&.dot \\e back',
      '.fi',
      '.RE',
      '.PP',
      '\\&.starts with a dot \\[u2013] and a dash',
      '',
    ]);
    expect(inline('**b** and `c`')).toBe('\\fB\\%b\\fR and \\fB\\%c\\fR');
  });
});
