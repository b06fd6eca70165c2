import type { ClientInterceptors, Connection } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { missingSearchAttributes, searchAttributesMissing } from '../lib/search-attribute-registry';

/**
 * Every start and schedule carries Lifeboat's search attributes, and a namespace without them
 * refuses it with a bare INVALID_ARGUMENT. Only after a refusal is the namespace asked, so a
 * working setup pays nothing; what is missing then becomes SearchAttributesMissing with the fix.
 */
export function searchAttributeGuard(connection: Connection, namespace: string): ClientInterceptors {
  const explain = async (error: unknown): Promise<never> => {
    if (error instanceof WorkflowExecutionAlreadyStartedError) throw error;
    const missing = await missingSearchAttributes(connection.operatorService, namespace).catch(() => []);
    throw missing.length > 0 ? searchAttributesMissing(namespace, missing) : error;
  };
  return {
    workflow: [{
      startWithDetails: (input, next) => next(input).catch(explain),
      signalWithStart: (input, next) => next(input).catch(explain),
    }],
    schedule: [{ create: (input, next) => next(input).catch(explain) }],
  };
}
