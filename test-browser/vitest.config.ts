import { defineConfig } from 'vitest/config';

// Browser tests drive a real Chromium; they are kept out of `npm test` (see teach.browser.test.ts).
export default defineConfig({
  test: {
    include: ['test-browser/**/*.browser.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
