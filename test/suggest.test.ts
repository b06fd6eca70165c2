import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, nearMisses } from '../lib/suggest';

describe('did you mean', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('stokcholm', 'stockholm')).toBe(1);
    expect(editDistance('app-db', 'app-db')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the closest names, closest first, and nothing for a name far from all', () => {
    const known = ['app-db', 'app-cache', 'uploads', 'stockholm', 'gothenburg'];
    expect(nearMisses('app-bd', known)).toEqual(['app-db']);
    expect(nearMisses('APP-DB', known)).toEqual(['app-db']);
    expect(nearMisses('upl', known)).toEqual(['uploads']);
    expect(nearMisses('zzz', known)).toEqual([]);
    expect(didYouMean('gotenburg', known, 'regions')).toBe('did you mean "gothenburg"?');
    expect(didYouMean('warehouse', ['app-db'], 'sources')).toBe('sources are: app-db');
  });
});
