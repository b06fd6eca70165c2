import { execa } from 'execa';
import type { VerifyCheckConfig } from '../../lib/config/schema';
import type { RedisDescription } from '../../lib/manifest';
import type { CheckOutcome } from '../../lib/verify';
import { cliArgs, type RedisTarget } from '../sources/redis/cli';
import type { ScratchRedis } from './redis-server';
import { childEnvOptions } from '../../lib/child-env';

/** Keys read per type and database; SCAN stops after this many rounds of 100 on a huge keyspace. */
const perType = 5;
const scanRounds = 50;

// One round trip per database: SCAN, TYPE, and a read command fitting each type.
const sampleScript = `
local want, rounds, cursor = tonumber(ARGV[1]), tonumber(ARGV[2]), '0'
local read, out = {}, {}
local readers = {
  string = function(k) return redis.pcall('GET', k) end,
  list = function(k) return redis.pcall('LRANGE', k, 0, 9) end,
  set = function(k) return redis.pcall('SRANDMEMBER', k, 10) end,
  zset = function(k) return redis.pcall('ZRANGE', k, 0, 9, 'WITHSCORES') end,
  hash = function(k) return redis.pcall('HRANDFIELD', k, 10, 'WITHVALUES') end,
  stream = function(k) return redis.pcall('XRANGE', k, '-', '+', 'COUNT', 10) end,
}
repeat
  local page = redis.call('SCAN', cursor, 'COUNT', 100)
  cursor = page[1]
  for _, k in ipairs(page[2]) do
    local t = redis.call('TYPE', k).ok
    read[t] = read[t] or 0
    if read[t] < want then
      local reader = readers[t] or function(key) return redis.pcall('DUMP', key) end
      local result = reader(k)
      if type(result) == 'table' and result.err then out[#out + 1] = 'failed ' .. t .. ' ' .. k .. ': ' .. result.err
      else read[t] = read[t] + 1 end
    end
  end
  rounds = rounds - 1
until cursor == '0' or rounds == 0
for t, n in pairs(read) do out[#out + 1] = 'read ' .. t .. ' ' .. n end
return out`;

async function redisCli(target: RedisTarget, db: number, args: string[]): Promise<string> {
  const { args: base, env } = cliArgs(target);
  const { stdout } = await execa('redis-cli', [...base, '-n', String(db), '--raw', ...args], { ...childEnvOptions(env), timeout: 60_000 });
  return stdout;
}

export async function checkRedis(server: ScratchRedis, description: RedisDescription, checks: VerifyCheckConfig[]): Promise<CheckOutcome[]> {
  return [...keyCounts(server, description), ...await samples(server), ...await userChecks(server.target, checks)];
}

/**
 * The RDB's own count (redis-check-rdb at backup time) is exact; keys whose TTL ran out since are
 * dropped on load, so up to rdbExpires fewer is still whole. INFO keyspace per database was taken
 * a moment before the snapshot: compared, but a difference the exact total explains is not a failure.
 */
function keyCounts(server: ScratchRedis, description: RedisDescription): CheckOutcome[] {
  const served = Object.values(server.keyspace).reduce((sum, db) => sum + db.keys, 0);
  const totalOk = served <= description.rdbKeys && served >= description.rdbKeys - description.rdbExpires;
  const outcomes: CheckOutcome[] = [{
    name: 'key count',
    ok: totalOk,
    detail: `expected ${description.rdbKeys} keys (the RDB's count${description.rdbExpires ? `, of which ${description.rdbExpires} with a TTL may have expired since` : ''}), found ${served}`,
  }];
  for (const db of new Set([...Object.keys(description.keyspace), ...Object.keys(server.keyspace)])) {
    const expected = description.keyspace[db]?.keys ?? 0;
    const found = server.keyspace[db]?.keys ?? 0;
    const ok = found === expected || totalOk;
    outcomes.push({ name: `key count ${db}`, ok, detail: `expected ${expected} keys (INFO keyspace at backup time), found ${found}${found !== expected && ok ? '; the exact RDB total matches, so the difference is keys written or expired around the snapshot' : ''}` });
  }
  return outcomes;
}

async function samples(server: ScratchRedis): Promise<CheckOutcome[]> {
  const outcomes: CheckOutcome[] = [];
  for (const db of Object.keys(server.keyspace)) {
    const lines = (await redisCli(server.target, Number(db.slice(2)), ['EVAL', sampleScript, '0', String(perType), String(scanRounds)])).split('\n').filter(Boolean);
    const failed = lines.filter((line) => line.startsWith('failed '));
    const read = lines.filter((line) => line.startsWith('read ')).map((line) => line.slice(5)).sort();
    outcomes.push({
      name: `sample of keys ${db}`,
      ok: failed.length === 0,
      detail: failed.length === 0
        ? `read up to ${perType} keys of each type present: ${read.join(', ')}`
        : `expected every sampled key readable, ${failed.length} failed: ${failed.slice(0, 3).map((line) => line.slice(7)).join('; ')}`,
    });
  }
  return outcomes;
}

/** User checks look in database 0, as a client without SELECT would. */
async function userChecks(target: RedisTarget, checks: VerifyCheckConfig[]): Promise<CheckOutcome[]> {
  const outcomes: CheckOutcome[] = [];
  for (const [index, check] of checks.entries()) {
    const name = check.name ?? `user check ${index + 1}`;
    if ('exists' in check) {
      const found = (await redisCli(target, 0, ['EXISTS', check.exists])).trim() === '1';
      outcomes.push({ name, ok: found, detail: `EXISTS ${check.exists}: expected the key, found ${found ? 'it' : 'no such key'}` });
    } else if ('type' in check) {
      const found = (await redisCli(target, 0, ['TYPE', check.type])).trim();
      outcomes.push({ name, ok: found === check.is, detail: `TYPE ${check.type}: expected ${check.is}, found ${found}` });
    } else {
      outcomes.push({ name, ok: false, detail: `expected an exists or type check on a Redis source, found ${JSON.stringify(check)}` });
    }
  }
  return outcomes;
}
