import type { RetentionConfig, RetentionRules } from '../config/schema';
import { LifeboatError } from '../errors';

const ruleNames = ['daily', 'weekly', 'monthly', 'yearly', 'keepLast', 'maxAgeDays'] as const;

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

/**
 * Why a policy cannot be applied, or undefined when it can. A policy of no rules or only zeros
 * would keep nothing by any rule, which is never what an operator meant.
 */
export function policyProblem(rules: RetentionRules): string | undefined {
  if (ruleNames.some((name) => (rules[name] ?? 0) > 0)) return undefined;
  return `at least one of ${ruleNames.join(', ')} above 0: a policy that keeps nothing is refused (remove retention to keep every backup)`;
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
