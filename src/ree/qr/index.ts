/** QR payment codes: envelope text (base45, RFC 9285) and QR images. Payload formats live in src/protocol. */
export { BASE45_ALPHABET, base45Length, decodeBase45, encodeBase45 } from './base45.js';
export {
  QR_ENVELOPE_VERSION,
  QR_MAX_CLOCK_SKEW_MS,
  QR_MAX_ENVELOPE_BYTES,
  QR_MAX_TEXT_CHARS,
  QR_PAYLOAD_TYPES,
  decodeQrText,
  encodeQrText,
  type DecodeQrOptions,
  type QrEnvelope,
  type QrPayloadType,
} from './envelope.js';
export {
  QR_MAX_IMAGE_SIDE,
  QR_MAX_PNG_BYTES,
  decodeQrPng,
  renderQrPng,
  renderQrTerminal,
  type RenderQrPngOptions,
  type RenderQrTerminalOptions,
} from './image.js';
