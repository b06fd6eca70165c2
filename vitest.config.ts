import { defineConfig } from 'vitest/config';
import { LastFilesLast } from './test/harness/sequencer';

export default defineConfig({
  test: {
    // The Temporal native bridge does not survive worker threads; forks give each file a process.
    pool: 'forks',
    globalSetup: ['test/harness/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: files share one Temporal, S3 and PostgreSQL, so run them one at a time.
    fileParallelism: false,
    // test/zz-secret-scan.test.ts reads the histories, logs and manifests every other file left.
    sequence: { sequencer: LastFilesLast },
  },
});
