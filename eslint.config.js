// @ts-check
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', '.lifeboat/**', 'test-artifacts/**', 'eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // CommonJS that Temporal loads by path (lib/codec/failure-converter.cjs): linted without type information.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', parserOptions: { projectService: false } },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflow code is replayed: it must be deterministic and must not touch the machine.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code runs in the Temporal sandbox: no Node built-ins; do this in an activity' })),
        patterns: [
          { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'workflows import only @temporalio/workflow and @temporalio/common' },
          { group: ['../activities', '../activities/*', '../activities/**'], allowTypeImports: true, message: 'import activities as types only and call them through proxyActivities' },
          { group: ['execa', 'pg', '@aws-sdk/*', 'yaml', 'zod'], message: 'no I/O libraries in workflow code' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'process', message: 'no process state in workflows: pass it in the input or read it in an activity' },
        { name: 'crypto', message: 'use uuid4() from @temporalio/workflow' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'randomness must be replay-safe: use uuid4() or an activity' },
        { object: 'Date', property: 'now', message: 'use workflowInfo() times or a value returned by an activity' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'use workflowInfo() times or a value returned by an activity' },
      ],
    },
  },
);
