#!/usr/bin/env node
// The CLI is TypeScript; tsx compiles it on the fly so `npx flock` works from a
// fresh clone without a build step.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
