import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the VM lane's suite needs device-mapper and partition scan: vitest.vm.config.ts
    exclude: ['test/vm/**', 'node_modules/**'],
    // integration tests attach loop devices and mount for real; one file at a time keeps the
    // leak guard's view of the system unambiguous
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
