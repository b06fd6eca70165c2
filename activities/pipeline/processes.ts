import { Readable, type Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { LifeboatError } from '../../lib/errors';
import { childEnvOptions } from '../../lib/child-env';
import { redactUrls } from '../../lib/redact';
import { stopSignal } from '../progress';
import { StderrCollector } from './stderr';

export interface Step {
  /** Executable name or path. */
  tool: string;
  args: string[];
  /** Extra environment (e.g. PGPASSWORD), never logged. */
  env?: Record<string, string>;
  /** Names the step in errors: "pg_dump of app-db". */
  what: string;
  /** Turns a failure's stderr into an operator-facing error; the default is ToolFailed. */
  classify?: (stderr: string) => LifeboatError | undefined;
  /** Non-zero exit codes that still mean success with warnings (tar: 1 = files changed while read). */
  acceptExitCodes?: number[];
  /** stderr lines that are expected and not worth keeping as warnings (tar: "socket ignored"). */
  ignoreStderr?: RegExp;
}

export interface RunningPipeline {
  /** stdout of the last step (empty when it was started with a descriptor to write to). */
  output: Readable;
  /** stdin of the first step, when the pipeline was started with input: 'pipe'. */
  input: Writable | undefined;
  /** Resolves when every step succeeded, with the stderr lines of steps that succeeded with
   * warnings; rejects with the error of the step that broke first. */
  finished: Promise<string[]>;
  kill(): void;
}

export const installHints: Record<string, string> = {
  pg_dump: 'apt-get install postgresql-client-15 (or run scripts/setup.sh)',
  pg_restore: 'apt-get install postgresql-client-15 (or run scripts/setup.sh)',
  zstd: 'apt-get install zstd (or run scripts/setup.sh)',
  age: 'apt-get install age (or run scripts/setup.sh)',
  'redis-cli': 'apt-get install redis-tools (or run scripts/setup.sh)',
  'redis-check-rdb': 'apt-get install redis-tools (or run scripts/setup.sh)',
  'redis-server': 'apt-get install redis-server (or run scripts/setup.sh)',
  tar: 'apt-get install tar (GNU tar)',
};

/**
 * Starts steps as a shell would pipe them. Each child's stdout is handed to the next child as its
 * stdin file descriptor, so the bytes between tools never pass through Node's event loop.
 */
export function startPipeline(steps: Step[], input: 'pipe' | 'ignore' = 'ignore', output: 'pipe' | Writable = 'pipe'): RunningPipeline {
  const { previous, ...running } = spawnSteps(steps, input, output);
  // Written to the stream (the descriptor) it was given, the last step's stdout is not Node's to read: an empty stream stands in.
  return { ...running, output: previous ?? Readable.from([]) };
}

function spawnSteps(steps: Step[], input: 'pipe' | 'ignore', lastStdout: 'pipe' | Writable): Omit<RunningPipeline, 'output'> & { previous: Readable | null | undefined } {
  const children: ResultPromise[] = [];
  const stderr: StderrCollector[] = [];
  let previous: Readable | null | undefined;
  for (const [index, step] of steps.entries()) {
    const child = execa(step.tool, step.args, {
      stdin: index === 0 ? input : previous!,
      stdout: index === steps.length - 1 ? lastStdout : 'pipe',
      stderr: 'pipe',
      // Not buffered by execa, whose limit kills the child: drained and bounded by StderrCollector.
      buffer: { stdout: false, stderr: false },
      ...childEnvOptions(step.env),
      reject: true,
    });
    // The child now holds its own copy of the previous stdout's descriptor. Node's copy would never be
    // read, and execa waits for every stream it opened to end, so close ours.
    if (index > 0) previous!.destroy();
    children.push(child);
    stderr.push(new StderrCollector(child.stderr, step.ignoreStderr));
    previous = child.stdout ?? undefined;
  }
  const kill = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  // The order the steps failed in: each child's rejection is recorded before allSettled reports them all.
  const failedOrder: number[] = [];
  const finished = Promise.allSettled(children).then((results) => {
    const warnings: string[] = [];
    const failures = results
      .map((result, index) => ({ result, step: steps[index]!, stderr: stderr[index]! }))
      .filter((entry): entry is { result: PromiseRejectedResult; step: Step; stderr: StderrCollector } => {
        if (entry.result.status === 'fulfilled') return false;
        const reason = entry.result.reason as ExecaFailure;
        if (reason.exitCode !== undefined && entry.step.acceptExitCodes?.includes(reason.exitCode)) {
          warnings.push(...entry.stderr.warnings(entry.step.tool));
          return false;
        }
        return true;
      });
    if (failures.length === 0) return warnings;
    // A step killed by SIGPIPE or by us only reports that its neighbour broke; blame the other one.
    // Of several, the one that failed first: the others may have failed because it did (zstd refusing
    // its input ends age's output, and age then reports a cut stream before our SIGTERM reaches it).
    failures.sort((a, b) => failedOrder.indexOf(results.indexOf(a.result)) - failedOrder.indexOf(results.indexOf(b.result)));
    const root = failures.find((f) => !isCollateral(f.result.reason, f.stderr.text())) ?? failures[0]!;
    throw toLifeboatError(root.step, root.result.reason, root.stderr.text());
  });
  // Stop every step as soon as one fails, so nothing waits forever on a dead neighbour.
  for (const [index, child] of children.entries()) {
    child.catch((reason: ExecaFailure) => {
      failedOrder.push(index);
      if (!(reason.exitCode !== undefined && steps[index]!.acceptExitCodes?.includes(reason.exitCode))) kill();
    });
  }
  finished.catch(() => undefined);
  // A stalled or cancelled activity stops its tools rather than leaving them hung behind a failed attempt.
  const stop = stopSignal();
  if (stop) {
    stop.addEventListener('abort', kill);
    void finished.finally(() => stop.removeEventListener('abort', kill)).catch(() => undefined);
  }
  return { previous, input: input === 'pipe' ? children[0]!.stdin! : undefined, finished, kill };
}

interface ExecaFailure {
  code?: string;
  exitCode?: number;
  signal?: string;
  stderr?: string;
  isTerminated?: boolean;
  shortMessage?: string;
}

function isCollateral(reason: unknown, stderr: string): boolean {
  const failure = reason as ExecaFailure;
  // 141 and 143 are how a shell reports a child that died of SIGPIPE or SIGTERM; Node's stdio are
  // socket pairs, so a writer whose reader died may also see "connection reset".
  return failure.signal === 'SIGPIPE' || failure.signal === 'SIGTERM' || failure.exitCode === 141 || failure.exitCode === 143
    || /EPIPE|Broken pipe|Connection reset by peer|ECONNRESET/i.test(stderr);
}

/** The error of a step a shell ran that exited with `exitCode` (127: the shell did not find it), from its stderr. */
export function stepFailure(step: Step, exitCode: number, stderrText: string): LifeboatError {
  return toLifeboatError(step, exitCode === 127 ? { code: 'ENOENT' } : { exitCode }, stderrText);
}

function toLifeboatError(step: Step, reason: unknown, stderrText: string): LifeboatError {
  const failure = reason as ExecaFailure;
  if (failure.code === 'ENOENT') {
    return new LifeboatError('MissingTool', `${step.tool} not found on this worker's PATH (needed for ${step.what})`,
      installHints[step.tool] ? `install it: ${installHints[step.tool]}` : `install ${step.tool}`);
  }
  const stderr = stderrText.trim();
  const classified = step.classify?.(stderr);
  if (classified) return classified;
  const how = failure.signal ? `was killed by ${failure.signal}` : `exited with code ${failure.exitCode ?? '?'}`;
  return new LifeboatError('ToolFailed', `${step.what}: ${step.tool} ${how}${stderr ? `: ${redactUrls(lastLines(stderr))}` : ''}`);
}

export function lastLines(text: string, count = 3): string {
  return text.split('\n').filter(Boolean).slice(-count).join(' | ').slice(0, 800);
}
