// The limits that keep a hostile client from taking a replica's memory or
// connections, with their defaults. docs/WEBHOOK.md ("Limits under hostile
// load") explains the sizing against the container's 384 MiB memory limit.

/** What one replica lets clients hold. */
export interface ServerLimits {
  /** Request body bytes held at once, summed over all requests (being received or awaiting their answer). */
  bodyBytesInFlight: number;
  /** Open connections per server (HTTPS and metrics each); beyond it new connections are closed at once. */
  maxConnections: number;
  /** From TCP accept to a completed TLS handshake. */
  handshakeTimeoutMs: number;
  /** From a request's first byte to its last header. */
  headersTimeoutMs: number;
  /** From a request's first byte to its last body byte. */
  requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = {
  bodyBytesInFlight: 64 * 1024 * 1024,
  maxConnections: 512,
  handshakeTimeoutMs: 5_000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
};
