// Loaded by path (Temporal's failureConverterPath) by the client, the worker and the workflow
// bundle, hence CommonJS. Failure messages and stack traces name sources, paths and URLs: they move
// into a payload, which the payload codec encrypts like any other.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
