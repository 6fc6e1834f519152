import { FlockError } from "../protocol/errors.ts";
import { isLoopbackHostname } from "../protocol/wire.ts";

/** Set to `1` where plain http to the worker stays on a trusted private network (a compose network, say). */
export const ALLOW_PLAIN_HTTP_ENV = "FLOCK_ALLOW_PLAIN_HTTP";

/** The opt-out as the environment gives it; an explicit option wins over it. */
export function plainHttpAllowed(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return option ?? env[ALLOW_PLAIN_HTTP_ENV] === "1";
}

/**
 * Refuses a plain-http worker URL off loopback. Over it a network attacker could answer
 * ticket requests with a relay of its choosing and withhold the user's revocation list;
 * the end-to-end TLS would still hold, but a revoked party's leaked key would pair again.
 */
export function checkControlPlaneUrl(url: string, allowPlainHttp: boolean): void {
  const { protocol, hostname, origin } = new URL(url);
  if (protocol !== "http:" || allowPlainHttp || isLoopbackHostname(hostname)) return;
  throw new FlockError(
    "CONFIG_INVALID",
    `FLOCK_URL ${origin} is plain http off loopback, where tickets and revocation lists could be tampered with: use https, or set ${ALLOW_PLAIN_HTTP_ENV}=1 if the network to the worker is private and trusted.`,
  );
}
