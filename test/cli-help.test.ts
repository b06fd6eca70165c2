import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const help = async (path: string[]) => (await execa(lifeboat, [...path, '--help'])).stdout;

/** The commands a help page lists ("backup [options] <source>" → "backup"), without "help". */
function commandsOf(text: string): string[] {
  const section = text.split(/^Commands:$/m)[1]?.split(/\n\n/)[0] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((name) => name !== 'help');
}

/** The option lines of a help page with whatever description follows them. */
function optionsOf(text: string): Array<{ flags: string; description: string }> {
  const section = text.split(/^Options:$/m)[1]?.split(/\n\n/)[0] ?? '';
  return [...section.matchAll(/^ {2}(-\S.*?)(?: {2,}(.*))?$/gm)].map((m) => ({ flags: m[1]!.trim(), description: (m[2] ?? '').trim() }));
}

describe('lifeboat --help', () => {
  it('prints the version with --version, without a config or a connection', async () => {
    const result = await execa(lifeboat, ['--version'], { env: { LIFEBOAT_CONFIG: '/nonexistent.yaml' } });
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('gives every command examples and every option a description', async () => {
    const leaves: string[][] = [];
    for (const name of commandsOf(await help([]))) {
      const subcommands = commandsOf(await help([name]));
      if (subcommands.length === 0) leaves.push([name]);
      else leaves.push(...subcommands.map((sub) => [name, sub]));
    }
    expect(leaves.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const path of leaves) {
      const text = await help(path);
      if (!/^Examples:\n {2}lifeboat /m.test(text)) missing.push(`${path.join(' ')}: no examples`);
      for (const option of optionsOf(text)) if (option.description === '') missing.push(`${path.join(' ')} ${option.flags}: no description`);
    }
    expect(missing).toEqual([]);
  });

  it('suggests the command or option that was meant', async () => {
    const command = await execa(lifeboat, ['backupz'], { reject: false });
    expect(command.exitCode).toBe(2);
    expect(command.stderr).toContain('Did you mean one of backup, backups?');
    const option = await execa(lifeboat, ['backup', 'app-db', '--wiat'], { reject: false });
    expect(option.stderr).toContain('Did you mean --wait?');
  });
});
