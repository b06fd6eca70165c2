/** `expect: "> 0"` against a number; "=", "==", "!=", "<>", "<", "<=", ">", ">=" as the config allows. */
export function compareNumber(found: number, expect: string): boolean {
  const match = /^\s*(==|=|!=|<>|<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expect);
  if (!match) return false;
  const wanted = Number(match[2]);
  switch (match[1]) {
    case '=':
    case '==':
      return found === wanted;
    case '!=':
    case '<>':
      return found !== wanted;
    case '<':
      return found < wanted;
    case '<=':
      return found <= wanted;
    case '>':
      return found > wanted;
    default:
      return found >= wanted;
  }
}
