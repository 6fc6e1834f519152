// Types for build.mjs, so TypeScript (benches, tests) can import its entry points.
export declare const ROOT: string;
export declare const DIST: string;
export declare const CLIENT_BUNDLE: string;
export declare const CLIENT_TYPES_DIR: string;
export declare const CLIENT_TYPES_ENTRY: string;
/** The CLI's programs (dist/cli/main.js, and dist/cli/relay.js for `flock relay …`): esbuild options each. */
export declare const programs: ReadonlyArray<{
  entryPoints: string[];
  outfile: string;
  external: string[];
  banner: { js: string };
  minify?: boolean;
}>;
/** Compiles the CLI and the SDK bundle into dist/; resolves to the number of files rewritten. */
export declare function buildJavaScript(): Promise<number>;
/** Emits the SDK's declaration files into dist/client-types/. */
export declare function buildClientTypes(): Promise<void>;
