import { raiseAlert } from './alert';

export interface UntrustedObject {
  source: string;
  region: string;
  key: string;
  reason: string;
}

/**
 * One critical 'untrusted' alert per source: catalog objects that no trusted key signed, or that
 * are not what they claim to be. They are never restored or counted; the alert is for the human
 * who must find out whether the bucket was written by someone else.
 */
export async function alertUntrusted(items: UntrustedObject[], at: string, counts: Record<string, number> = {}): Promise<void> {
  const bySource = new Map<string, UntrustedObject[]>();
  for (const item of items) bySource.set(item.source, [...(bySource.get(item.source) ?? []), item]);
  for (const [source, found] of bySource) {
    const count = counts[source] ?? found.length;
    const shown = found.slice(0, 5).map((item) => `${item.region} ${item.key}: ${item.reason}`);
    await raiseAlert({
      kind: 'untrusted', severity: 'critical', source, region: found[0]!.region, at,
      title: `${source}: ${count} catalog object(s) not signed by a trusted key`,
      text: `${shown.join('\n')}${count > shown.length ? `\n… and ${count - shown.length} more` : ''}\n`
        + 'They are never restored, verified or counted. Someone with write access to the bucket may have forged or altered them: treat it as an incident. '
        + 'Backups from before catalog signing are trusted once with "lifeboat catalog sign --trust-existing".',
      details: { count, firstKey: found[0]!.key, firstRegion: found[0]!.region },
    });
  }
}
