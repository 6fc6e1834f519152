/**
 * The original Flock relay's wire protocol ("frelay"), which data planes also speak so its
 * Go and C clients work unchanged (docs/coming-from-frelay.md). Shared by the worker (the
 * name in data plane certificates), the data plane and the tests.
 */

/** The TLS server name the original Go client asks for and checks: data plane certificates carry it as a DNS SAN. */
export const FRELAY_SERVER_NAME = "flockrelay";

/** Ready `{"Mode":1}`: be the end-to-end TLS server (sent to the second arriver). */
export const FRELAY_MODE_SERVER = 1;
/** Ready `{"Mode":2}`: be the end-to-end TLS client (sent to the first arriver). */
export const FRELAY_MODE_CLIENT = 2;

/** The original relay read the AuthReq with one read into a buffer this size; a longer one never parsed. */
export const MAX_FRELAY_AUTH_REQUEST_BYTES = 512;
