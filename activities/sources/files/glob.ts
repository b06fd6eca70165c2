/**
 * Exclude globs, matched against paths relative to the source root ("a/b/c.txt"): "*" and "?"
 * stay within one name, "**" crosses directories; a pattern without "/" matches a name at any depth.
 */
export function globMatcher(patterns: string[]): (relative: string) => boolean {
  const compiled = patterns.map((pattern) => {
    const anchored = pattern.includes('/');
    const body = pattern.replace(/^\//, '').split('**').map((part) =>
      part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*');
    return { anchored, regex: new RegExp(`^${body}$`) };
  });
  return (relative) => {
    const name = relative.slice(relative.lastIndexOf('/') + 1);
    return compiled.some(({ anchored, regex }) => regex.test(anchored ? relative : name));
  };
}
