// Apart from policy.ts so that the config schema can check a policy without importing the code that applies it
// (policy.ts needs the schema's types: one file each way was an import cycle).

export const ruleNames = ['daily', 'weekly', 'monthly', 'yearly', 'keepLast', 'maxAgeDays'] as const;

export type RuleCounts = Partial<Record<(typeof ruleNames)[number], number>>;

/**
 * Why a policy cannot be applied, or undefined when it can. A policy of no rules or only zeros
 * would keep nothing by any rule, which is never what an operator meant.
 */
export function policyProblem(rules: RuleCounts): string | undefined {
  if (ruleNames.some((name) => (rules[name] ?? 0) > 0)) return undefined;
  return `at least one of ${ruleNames.join(', ')} above 0: a policy that keeps nothing is refused (remove retention to keep every backup)`;
}
