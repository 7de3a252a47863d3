import { defineConfig } from 'vitest/config';

/** The VM lane's suite (test/vm), run inside the VM by test/vm/run-suite.sh. */
export default defineConfig({
  test: {
    include: ['test/vm/**/*.test.ts'],
    fileParallelism: false,
    // no results cache in the shared checkout: the files run in the same order every time
    cache: false,
    // TCG emulation: a CLI call costs seconds
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
