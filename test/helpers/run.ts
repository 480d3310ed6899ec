import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a built Node.js entry of this repository, or any executable (a .sh script), and collect what it printed.
 * With `timeoutMs`, a command still running then is killed (code null): a hang fails the test instead of stalling it.
 */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string, timeoutMs?: number): Promise<Run> {
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`make build\` first`);
  const [cmd, argv] = file.endsWith('.js') ? [process.execPath, [file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      env: { ...process.env, ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(timeoutMs !== undefined ? { timeout: timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // a program that exits without reading its input is fine
      child.stdin.end(stdin);
    }
  });
}
