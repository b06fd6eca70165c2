import { readFileSync } from 'node:fs';
import { LifeboatError } from '../errors';

// Secrets are read where they are used (in the worker process, at activity time), never carried
// in workflow inputs, so they never reach Temporal history.

export function readSecret(ref: { passwordEnv?: string; passwordFile?: string }, what: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (ref.passwordEnv) {
    const value = env[ref.passwordEnv];
    if (value === undefined || value === '') {
      throw new LifeboatError('Config', `${what}: environment variable ${ref.passwordEnv} is not set in this worker's environment`,
        `export ${ref.passwordEnv} before starting the worker`);
    }
    return value;
  }
  if (ref.passwordFile) {
    try {
      return readFileSync(ref.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new LifeboatError('Config', `${what}: cannot read password file ${ref.passwordFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        'check the path and that the worker user may read it');
    }
  }
  return undefined;
}

export function requireEnv(name: string, what: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new LifeboatError('Config', `${what}: environment variable ${name} is not set in this process's environment`, `export ${name}`);
  }
  return value;
}

/** A secret given by reference: the named environment variable, else the file; undefined when neither is set. */
export function readSecretRef(envName: string | undefined, file: string | undefined, what: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (envName) return requireEnv(envName, what, env).trim();
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new LifeboatError('Config', `${what}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      'check the path and that the worker user may read it');
  }
}
