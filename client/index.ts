/** The party SDK: what runs inside a function to reach a peer through a Flock data plane. */
export type { ErrorCode } from "../protocol/errors.ts";
export { FlockError } from "../protocol/errors.ts";
export type { Channel, ConnectEvent, ConnectOptions, StreamOptions } from "./connect.ts";
export { connect, DEFAULT_CONNECT_DEADLINE_MS, openChannel } from "./connect.ts";
export type { ConnectManyOptions, PeerChannel } from "./connect-many.ts";
export { openChannels } from "./connect-many.ts";
export { ALLOW_PLAIN_HTTP_ENV } from "./control-plane-url.ts";
export type { Transport } from "./dial.ts";
export { DEFAULT_TRANSPORT, TRANSPORTS } from "./dial.ts";
export type { IdentityMaterials, PartyConfig } from "./identity.ts";
export {
  BUNDLE_ENV,
  createIdentity,
  decodeIdentityBundle,
  encodeIdentityBundle,
  IDENTITY_ENV,
  loadIdentity,
} from "./identity.ts";
export { PEER_SETUP_SILENCE_MS } from "./setup-silence.ts";
export { FramedStream } from "./stream/framed-stream.ts";
export type { StreamLimits } from "./stream/stream-limits.ts";
export {
  DEFAULT_RESUME_DEADLINE_MS,
  DEFAULT_WINDOW_BYTES,
  HEARTBEAT_INTERVAL_MS,
  PEER_SILENCE_TIMEOUT_MS,
} from "./stream/stream-limits.ts";
