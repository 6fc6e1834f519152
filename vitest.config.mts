import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { generateSecrets, generateTicketJwk } from "./cli/local/secrets.ts";

const migrations = await readD1Migrations("worker/migrations");
// Fresh secrets per run, as `flock dev` makes them. A second, non-signing ticket key is
// published too, as during a key rotation, so tests cover "first signs, all published".
const secrets = await generateSecrets();
const ticketKeys = [...JSON.parse(secrets.TICKET_KEYS), await generateTicketJwk()];

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: migrations,
                ...secrets,
                TICKET_KEYS: JSON.stringify(ticketKeys),
              },
            },
          }),
        ],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          setupFiles: ["test/worker/apply-migrations.ts"],
        },
      },
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts", "test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/helpers/fresh-build.ts"],
          setupFiles: ["test/helpers/fail-on-listener-leaks.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
