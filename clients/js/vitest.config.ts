import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file starts its own servers; two at a time on a two-core machine.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
