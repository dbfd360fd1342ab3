// socfeed-client: a browser and Node client for socfeed's real-time security-event feed.
// No runtime dependencies; the React hook is in `socfeed-client/react`.

export {
  SocFeedClient,
  createFeed,
  type SocFeedOptions,
  type TokenProvider,
  type WebSocketAuth,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export { DEFAULT_BACKOFF, Retry, backoffCeiling, backoffDelay, type BackoffOptions } from "./backoff.js";
export { ALL, channelOf, channelsOfTypes, isChannel, isEventType, normaliseChannels } from "./channels.js";
export { aisocUrl, baseUrl, governUrl, sseUrl, type GovernCursor } from "./endpoint.js";
export { tenantOf, unverifiedClaims } from "./jwt.js";
export { Resume, type ResumeSnapshot, type Resumed } from "./resume.js";
export { SseParser, readSse, type FetchLike, type SseMessage } from "./sse.js";
export {
  chooseTransport,
  initialTransportState,
  recordAttempt,
  type TransportMode,
  type TransportPolicy,
  type TransportState,
} from "./transport.js";
export {
  SocFeedAuthError,
  statusColor,
  type AisocClientMessage,
  type AisocEnvelope,
  type AisocError,
  type AisocPing,
  type AisocServerMessage,
  type AisocSubscribed,
  type AisocUnsubscribed,
  type ConnectionState,
  type Dialect,
  type FeedGap,
  type FeedStatus,
  type GovernClientMessage,
  type GovernEnvelope,
  type GovernError,
  type GovernFilters,
  type GovernHeartbeat,
  type GovernReplay,
  type GovernServerMessage,
  type GovernSubscribed,
  type JsonObject,
  type SocFeedEvent,
  type TransportKind,
} from "./types.js";
export {
  DecodeError,
  decodeAisoc,
  decodeGovern,
  fromAisoc,
  fromGovern,
  toAisocEnvelope,
  toGovernEnvelope,
  type Incoming,
} from "./wire.js";
