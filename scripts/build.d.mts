// Types for build.mjs, so TypeScript (benches, tests) can import its entry points.
export declare const ROOT: string;
export declare const DIST: string;
export declare const CLIENT_BUNDLE: string;
export declare const CLIENT_TYPES_DIR: string;
export declare const CLIENT_TYPES_ENTRY: string;
/** Compiles the CLI and the SDK bundle into dist/; resolves to the number of files rewritten. */
export declare function buildJavaScript(): Promise<number>;
/** Emits the SDK's declaration files into dist/client-types/. */
export declare function buildClientTypes(): Promise<void>;
