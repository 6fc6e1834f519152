import { Hono } from "hono";
import type { AppEnv } from "./env.ts";

const app = new Hono<AppEnv>();

app.get("/healthz", (c) => c.json({ ok: true }));

export default app;
