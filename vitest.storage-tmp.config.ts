import { defineConfig } from "vitest/config";
export default defineConfig({
  plugins: [{ name: "stub-init", enforce: "pre", resolveId(id, importer) { if (id === "./init.js" && importer?.endsWith("src/commands/index.ts")) return "/tmp/pfstub/init.ts"; return null; } }],
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000, pool: "forks", maxWorkers: 2 },
});
