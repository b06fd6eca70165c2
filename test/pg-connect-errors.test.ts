import { describe, expect, it } from 'vitest';
import { classifyConnectError } from '../activities/sources/postgres/connect';

describe('a PostgreSQL connection refused for want of a password', () => {
  it('is a Config error that names the option to pass, not an unreachable server retried', () => {
    const error = classifyConnectError(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), 'postgres://app@db:5432/x', 'restore target');
    expect(error.type).toBe('Config');
    expect(error.message).toBe('restore target (postgres://app@db:5432/x): the server asks for a password and none was given');
    expect(error.hint).toContain('--to-password-env');
    expect(classifyConnectError(new Error('client password must be a string'), 'postgres://app@db/x', 'source app-db').hint).toContain('passwordEnv or passwordFile');
  });
});
