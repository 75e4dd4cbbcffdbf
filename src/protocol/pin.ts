/**
 * The PIN state the trusted key reports and the wallet TA passes on to the REE: one shape for both
 * sides of the channel (public data only: counts and flags, never the PIN or the PUK).
 */
export interface PinStatus {
  /** A PIN has been set (provisioning done). */
  set: boolean;
  triesLeft: number;
  maxTries: number;
  /** PIN blocked: unblock with the PUK. */
  blocked: boolean;
  pukTriesLeft: number;
  /** PUK exhausted: the key refuses PIN operations for good. */
  permanentlyBlocked: boolean;
}
