#!/usr/bin/env node
// `npm run pack:client`: builds the party SDK as an npm package and packs it. The last line
// printed is the tarball's absolute path (see docs/sdk.md, "Installing the SDK").
//
// The package is generated, not kept in git: its entry is the single-file bundle (ws and
// jose compiled in, so installing it needs no registry), its types are tsc's declarations,
// its version and licence are the repository's.
import { execFileSync } from "node:child_process";
import { copyFile, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildClientTypes,
  buildJavaScript,
  CLIENT_BUNDLE,
  CLIENT_TYPES_DIR,
  CLIENT_TYPES_ENTRY,
  DIST,
  ROOT,
} from "./build.mjs";

export const CLIENT_PACKAGE_NAME = "@flock/client";
export const CLIENT_PACKAGE_DIR = join(DIST, "client-package");
const BUNDLE_NAME = "flock-client.mjs";
/** Compiled into the bundle, so their licences travel with it. */
const BUNDLED_PACKAGES = ["ws", "jose"];

function packageJson(root) {
  const types = `./types/${CLIENT_TYPES_ENTRY.slice(CLIENT_TYPES_DIR.length + 1)}`;
  return {
    name: CLIENT_PACKAGE_NAME,
    version: root.version,
    description: "Flock party SDK: end-to-end mutual TLS between serverless functions through a Flock relay",
    type: "module",
    license: root.license,
    engines: root.engines,
    main: `./${BUNDLE_NAME}`,
    types,
    exports: {
      ".": { types, default: `./${BUNDLE_NAME}` },
      "./package.json": "./package.json",
    },
  };
}

const README = `# ${CLIENT_PACKAGE_NAME}

The Flock party SDK: a function fetches a ticket, dials a Flock data plane, is paired with its
peer, and gets a Node.js TLS socket that runs mutual TLS end to end with that peer.

\`\`\`js
import { connect } from "${CLIENT_PACKAGE_NAME}";
const socket = await connect({ dest: "bob" }); // identity from FLOCK_PARTY (or FLOCK_URL, RELAY_CA, ...)
\`\`\`

\`${BUNDLE_NAME}\` is a single ES module with no dependencies: copy it into a function's zip
to deploy without npm. Installing \`bufferutil\` beside it makes WebSocket masking native.
The Flock repository's docs/sdk.md is the reference.
`;

async function thirdPartyNotices() {
  const parts = [];
  for (const name of BUNDLED_PACKAGES) {
    const dir = join(ROOT, "node_modules", name);
    const { version, license } = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    const file = ["LICENSE", "LICENSE.md"].map((f) => join(dir, f));
    const text = await readFile(file[0], "utf8").catch(() => readFile(file[1], "utf8"));
    parts.push(`${name} ${version} (${license})\n\n${text.trim()}\n`);
  }
  return `${BUNDLE_NAME} contains the following packages.\n\n${parts.join("\n---\n\n")}`;
}

/** Builds, stages and packs the SDK; resolves to the tarball's absolute path. */
export async function packClient() {
  await buildJavaScript();
  await buildClientTypes();
  const root = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
  await rm(CLIENT_PACKAGE_DIR, { recursive: true, force: true });
  await mkdir(CLIENT_PACKAGE_DIR, { recursive: true });
  await copyFile(CLIENT_BUNDLE, join(CLIENT_PACKAGE_DIR, BUNDLE_NAME));
  // The bundle names its map; with --enable-source-maps, stacks point into the TypeScript.
  await copyFile(`${CLIENT_BUNDLE}.map`, join(CLIENT_PACKAGE_DIR, `${BUNDLE_NAME}.map`));
  await cp(CLIENT_TYPES_DIR, join(CLIENT_PACKAGE_DIR, "types"), { recursive: true });
  await writeFile(
    join(CLIENT_PACKAGE_DIR, "package.json"),
    `${JSON.stringify(packageJson(root), null, 2)}\n`,
  );
  await writeFile(join(CLIENT_PACKAGE_DIR, "README.md"), README);
  await writeFile(join(CLIENT_PACKAGE_DIR, "THIRD-PARTY-NOTICES"), await thirdPartyNotices());
  const npm = process.env.npm_execpath;
  const [command, prefix] = npm ? [process.execPath, [npm]] : ["npm", []];
  const output = execFileSync(command, [...prefix, "pack", "--json", "--pack-destination", DIST], {
    cwd: CLIENT_PACKAGE_DIR,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [{ filename }] = JSON.parse(output);
  return join(DIST, filename);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${await packClient()}\n`);
}
