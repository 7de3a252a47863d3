import { defineConfig } from 'vitest/config';

/** The VM lane's suite (test/vm), run inside the VM by test/vm/run-suite.sh. */
export default defineConfig({
  test: {
    // and inspect's guest reader (private namespaces, autoclear loops, its lifeline) on Debian's kernel too
    include: ['test/vm/**/*.test.ts', 'test/integration/inspect-guest.test.ts'],
    fileParallelism: false,
    // no results cache in the shared checkout: the files run in the same order every time
    cache: false,
    // TCG emulation: a CLI call costs seconds
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
