import { env } from "cloudflare:test";

/** Every row of every table, to compare before and after a request that must leave no trace. */
export async function snapshotTables(): Promise<string> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  const tables: Record<string, unknown[]> = {};
  for (const { name } of results)
    tables[name] = (await env.DB.prepare(`SELECT * FROM "${name}"`).raw()).sort();
  return JSON.stringify(tables);
}
