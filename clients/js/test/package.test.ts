// The package's shape: no runtime dependencies, a core without React or Node built-ins, and the
// React hook in its own entry (`socfeed-client/react`).

import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { PACKAGE_ROOT } from "./support/server.js";

const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports: Record<string, { import: string; types: string } | string>;
};
const SRC = path.join(PACKAGE_ROOT, "src");
const importsOf = (file: string): string[] =>
  [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);

describe("package", () => {
  it("has no runtime dependencies; React is an optional peer", () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(Object.keys(pkg.peerDependencies ?? {})).toEqual(["react"]);
    expect(Object.keys(pkg.exports)).toEqual([".", "./react", "./package.json"]);
  });

  it("imports React only in the react entry, and no Node built-ins anywhere", () => {
    for (const f of readdirSync(SRC)) {
      const imports = importsOf(path.join(SRC, f));
      for (const i of imports) {
        expect(i.startsWith("node:"), `${f} imports ${i}`).toBe(false);
        if (f === "react.ts" && i === "react") continue;
        expect(i.startsWith("./"), `${f} imports ${i}`).toBe(true);
      }
    }
    expect(importsOf(path.join(SRC, "react.ts"))).toContain("react");
    expect(importsOf(path.join(SRC, "index.ts"))).not.toContain("./react.js");
  });

  it.skipIf(!existsSync(path.join(PACKAGE_ROOT, "dist", "index.js")))("the built entries load", async () => {
    for (const entry of [".", "./react"]) {
      const e = pkg.exports[entry] as { import: string; types: string };
      expect(existsSync(path.join(PACKAGE_ROOT, e.import)), e.import).toBe(true);
      expect(existsSync(path.join(PACKAGE_ROOT, e.types)), e.types).toBe(true);
    }
    const core = (await import(path.join(PACKAGE_ROOT, "dist", "index.js"))) as Record<string, unknown>;
    expect(typeof core.createFeed).toBe("function");
    expect(typeof core.SocFeedClient).toBe("function");
    expect(core.useRealtimeEvents).toBeUndefined();
    const react = (await import(path.join(PACKAGE_ROOT, "dist", "react.js"))) as Record<string, unknown>;
    expect(typeof react.useRealtimeEvents).toBe("function");
    expect(typeof react.useRealtimeFeed).toBe("function");
    expect(typeof react.SocFeedProvider).toBe("function");
  });
});
