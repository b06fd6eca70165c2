import type { Connection } from '@temporalio/client';
import { isGrpcServiceError } from '@temporalio/client';
import { LifeboatError } from './errors';
import { searchAttributeNames } from '../workflows/search-attributes';

type OperatorService = Connection['operatorService'];

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (@temporalio/proto is not a direct dependency). */
const KEYWORD = 2;

/** Lifeboat's search attributes the namespace lacks (or has with another type). */
export async function missingSearchAttributes(operator: OperatorService, namespace: string): Promise<string[]> {
  const { customAttributes } = await operator.listSearchAttributes({ namespace });
  return searchAttributeNames.filter((name) => customAttributes?.[name] !== KEYWORD);
}

/** The one command that registers them, for hints and the README. */
export function registerCommand(namespace: string, names: string[] = searchAttributeNames): string {
  return `temporal operator search-attribute create --namespace ${namespace} ${names.map((name) => `--name ${name} --type Keyword`).join(' ')}`;
}

export function searchAttributesMissing(namespace: string, missing: string[]): LifeboatError {
  return new LifeboatError('SearchAttributesMissing',
    `Temporal namespace ${namespace} lacks Lifeboat's search attributes ${missing.join(', ')}: no Lifeboat run can start`,
    `start "lifeboat worker" once (it registers them where the server allows it), or run: ${registerCommand(namespace, missing)} (Temporal Cloud: tcld namespace search-attributes add, or the Cloud UI)`);
}

export type Registration = { registered: string[] } | { refused: LifeboatError };

/**
 * Registers what is missing. Temporal Cloud and servers with authorization refuse the operator
 * call: that is reported, not thrown, so the worker still serves what it can and says what to run.
 */
export async function registerSearchAttributes(operator: OperatorService, namespace: string): Promise<Registration> {
  let missing: string[];
  try {
    missing = await missingSearchAttributes(operator, namespace);
  } catch (error) {
    const why = isGrpcServiceError(error) ? error.details : String(error);
    const unknown = searchAttributesMissing(namespace, searchAttributeNames);
    return { refused: new LifeboatError(unknown.type, `cannot list the search attributes of namespace ${namespace} (${why}); Lifeboat's runs need ${searchAttributeNames.join(', ')}`, unknown.hint) };
  }
  if (missing.length === 0) return { registered: [] };
  try {
    await operator.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])) });
  } catch (error) {
    // Another worker may have registered them a moment ago (ALREADY_EXISTS): what counts is what is there now.
    const still = await missingSearchAttributes(operator, namespace);
    if (still.length === 0) return { registered: [] };
    const why = isGrpcServiceError(error) ? error.details : String(error);
    const refused = searchAttributesMissing(namespace, still);
    return { refused: new LifeboatError(refused.type, `${refused.message} (registering them was refused: ${why})`, refused.hint) };
  }
  return { registered: missing };
}
