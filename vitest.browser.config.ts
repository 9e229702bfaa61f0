import { defineConfig } from "vitest/config";

/** `npm run test:browser`: the run report opened in headless Chromium (Debian's /usr/bin/chromium). */
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    globalSetup: ["test/helpers/globalSetup.ts"],
    pool: "forks",
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
