import type { RetentionConfig, RetentionRules } from '../config/schema';
import { LifeboatError } from '../errors';
import { policyProblem, ruleNames } from './rule-names';

/** The rules that apply in one region: its override, whole, or else the source's own. */
export function rulesFor(retention: RetentionConfig, region: string): RetentionRules {
  const override = retention.regions?.[region];
  if (override) return override;
  const rules: RetentionRules = {};
  for (const name of ruleNames) {
    if (retention[name] !== undefined) rules[name] = retention[name];
  }
  return rules;
}

export function checkPolicy(source: string, region: string, rules: RetentionRules): void {
  const problem = policyProblem(rules);
  if (problem) {
    throw new LifeboatError('Config', `retention of ${source} in ${region} keeps nothing: expected ${problem}`, `fix sources.${source}.retention in the config`);
  }
}

/** "daily 7, weekly 4, maxAgeDays 400" */
export function describeRules(rules: RetentionRules): string {
  return ruleNames.filter((name) => (rules[name] ?? 0) > 0).map((name) => `${name} ${rules[name]}`).join(', ');
}
