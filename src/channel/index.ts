/** Public API of the secure channel between the trusted key and the TEE OS. */
export { createMemoryTransportPair, DEFAULT_MAX_FRAME_BYTES, type Transport } from './transport.js';
export { listenTcp, connectTcp, LengthPrefixDecoder, type TcpListener, type TcpListenOptions, type TcpConnectOptions } from './tcp-transport.js';
export {
  createInterceptedPair,
  interceptTransports,
  FrameLog,
  DEFAULT_LOG_BYTES,
  flipBit,
  truncate,
  TO_RESPONDER,
  TO_INITIATOR,
  type Direction,
  type InterceptAction,
  type InterceptHook,
  type InterceptedPair,
  type InterceptOptions,
  type Interceptor,
  type LoggedFrame,
  type HeldFrame,
} from './interceptor.js';
export {
  createRoot,
  issueCertificate,
  verifyCertificate,
  encodeCertificate,
  decodeCertificate,
  certificateSignedBytes,
  CERTIFICATE_SIGNATURE_LABEL,
  type Certificate,
  type CertificateBody,
  type CertificateIssuer,
  type RootKey,
} from './certificate.js';
export { createChannelIdentity, checkIdentity, type ChannelIdentity, type PeerIdentity } from './identity.js';
export { DEFAULT_SUITES, peekHandshakeMessage, type HandshakeView, type KeyLog } from './handshake.js';
export { DEFAULT_REKEY_AFTER_RECORDS, DEFAULT_REKEY_AFTER_BYTES, peekRecordHeader, type RecordHeader } from './record.js';
export {
  connectChannel,
  acceptChannel,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_CALL_TIMEOUT_MS,
  MAX_MESSAGES_PER_RECORD,
  DEFAULT_COALESCE_BATCH,
  type ChannelOptions,
  type ChannelStats,
  type SecureChannel,
  type RequestHandler,
  type NotificationHandler,
} from './secure-channel.js';
export { createPortTransport, pipeTransports } from './port-transport.js';
