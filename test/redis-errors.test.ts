import { describe, expect, it } from 'vitest';
import { classifyRedisError } from '../activities/sources/redis/cli';

const classify = classifyRedisError('source cache (redis://127.0.0.1:6379)');

describe('what redis-cli --rdb says, as Lifeboat names it', () => {
  it('takes a refused SYNC for Unsupported, and a connection broken mid-transfer for a retryable unreachable source', () => {
    expect(classify('MASTER aborted replication with an error: NOPERM User nosync has no permissions to run the \'sync\' command')?.type).toBe('Unsupported');
    expect(classify('ERR unknown command \'SYNC\'')?.type).toBe('Unsupported');
    // What redis-cli prints when the server is killed while it streams the RDB.
    const died = classify('Error reading bulk length while SYNCing');
    expect(died?.type).toBe('SourceUnreachable');
    expect(died?.retryable).toBe(true);
    expect(classify('I/O Error reading RDB payload from socket')?.type).toBe('SourceUnreachable');
    expect(classify('Could not connect to Redis at 127.0.0.1:6379: Connection refused')?.type).toBe('SourceUnreachable');
    expect(classify('WRONGPASS invalid username-password pair')?.type).toBe('Config');
  });
});
