import type { z } from 'zod';

// The keys the schema allows at a path of the config, for "did you mean …" on an unknown key.
// zod keeps a schema's structure in `_zod.def`; only the kinds the config uses are walked.

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  getter?: () => z.ZodType;
  values?: unknown[];
}

const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Through wrappers (optional, default, pipe, lazy) to the schema that decides the shape. */
function unwrap(schema: z.ZodType): z.ZodType {
  for (let current = schema; ;) {
    const def = defOf(current);
    const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined) ?? (def.type === 'lazy' ? def.getter?.() : undefined);
    if (!inner) return current;
    current = inner;
  }
}

/** The object schema a union holds for this input: by its discriminator's value, else the first with the most keys present. */
function member(schema: z.ZodType, input: unknown): z.ZodType[] {
  const def = defOf(schema);
  if (def.type !== 'union') return [schema];
  const options = (def.options ?? []).map(unwrap);
  const value = def.discriminator && typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[def.discriminator] : undefined;
  const chosen = options.filter((option) => {
    const field = def.discriminator ? defOf(option).shape?.[def.discriminator] : undefined;
    return field !== undefined && (defOf(unwrap(field)).values ?? []).includes(value);
  });
  return chosen.length > 0 ? chosen : options;
}

export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[], root: unknown): string[] {
  let current = [unwrap(schema)];
  let input = root;
  for (const segment of path) {
    current = current.flatMap((s) => member(s, input)).flatMap((s) => {
      const def = defOf(s);
      const next = def.type === 'object' ? def.shape?.[String(segment)] : def.type === 'record' ? def.valueType : def.type === 'array' ? def.element : undefined;
      return next ? [unwrap(next)] : [];
    });
    input = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[String(segment)] : undefined;
  }
  return [...new Set(current.flatMap((s) => member(s, input)).flatMap((s) => Object.keys(defOf(s).shape ?? {})))];
}
