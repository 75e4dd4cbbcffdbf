/**
 * QR images: render envelope text as a PNG or as terminal text, and read the text back from a PNG
 * the way a phone camera would (pixels in, text out). Payload-agnostic: the text is whatever
 * `encodeQrText` produced, and the caller decodes it with `decodeQrText`.
 */
import QRCode from 'qrcode';
import { PNG } from 'pngjs';
import * as jsQRModule from 'jsqr';
import type { Options as JsQrOptions, QRCode as JsQrCode } from 'jsqr';
import { TeeError } from '../../common/errors.js';
import { abytes, aint, astring } from '../../common/checks.js';
import { QR_MAX_TEXT_CHARS } from './envelope.js';

/** jsqr is CommonJS with an `exports.default`; depending on the loader it arrives once or twice wrapped. */
type JsQr = (data: Uint8ClampedArray, width: number, height: number, options?: JsQrOptions) => JsQrCode | null;
function resolveJsQr(mod: unknown): JsQr {
  let m = mod;
  for (let i = 0; i < 3 && typeof m !== 'function'; i++) m = (m as { default?: unknown } | undefined)?.default;
  if (typeof m !== 'function') throw new TeeError('NOT_SUPPORTED', 'qr: jsqr decoder not available', 'API');
  return m as JsQr;
}
const jsQR = resolveJsQr(jsQRModule);

/** Medium error correction (~15% of the symbol recoverable): the usual trade-off for phone screens. */
const ERROR_CORRECTION = 'M';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Largest image side accepted: bounds the RGBA buffer pngjs allocates for a hostile header (64 MiB). */
export const QR_MAX_IMAGE_SIDE = 4096;
/** Largest PNG file accepted before parsing. */
export const QR_MAX_PNG_BYTES = 16 * 1024 * 1024;

export interface RenderQrPngOptions {
  /** Pixels per module, 1..16 (default 4). */
  scale?: number;
  /** Quiet zone in modules, 0..16 (default 4, as the QR standard asks). */
  margin?: number;
}

export interface RenderQrTerminalOptions {
  /** Wrap the code in ANSI black-on-white so it scans on a dark terminal (default false: plain text). */
  ansi?: boolean;
}

function qrText(text: unknown): string {
  return astring(text, 'qr: text', { min: 1, max: QR_MAX_TEXT_CHARS });
}

function renderError(): TeeError {
  return new TeeError('BAD_PARAMETERS', 'qr: text does not fit in a QR code', 'API');
}

export async function renderQrPng(text: string, options: RenderQrPngOptions = {}): Promise<Uint8Array> {
  const data = qrText(text);
  // Bounds keep the largest code (177 modules) within QR_MAX_IMAGE_SIDE, so every rendered image can be scanned back.
  const scale = aint(options.scale ?? 4, 'qr: scale', 1, 16);
  const margin = aint(options.margin ?? 4, 'qr: margin', 0, 16);
  let png: Buffer;
  try {
    png = await QRCode.toBuffer(data, { type: 'png', errorCorrectionLevel: ERROR_CORRECTION, scale, margin });
  } catch {
    throw renderError();
  }
  // A plain copy: small Buffers can be views into Node's shared pool.
  return new Uint8Array(png);
}

/** Block-character rendering (two modules per text row), for printing in a demo. */
export async function renderQrTerminal(text: string, options: RenderQrTerminalOptions = {}): Promise<string> {
  const data = qrText(text);
  try {
    return options.ansi
      ? await QRCode.toString(data, { type: 'terminal', small: true, errorCorrectionLevel: ERROR_CORRECTION })
      : await QRCode.toString(data, { type: 'utf8', errorCorrectionLevel: ERROR_CORRECTION });
  } catch {
    throw renderError();
  }
}

/** Read the image's size from its header (IHDR must come first) so a hostile size is refused before allocation. */
function checkPngHeader(png: Uint8Array): void {
  if (png.length < 24 || PNG_SIGNATURE.some((b, i) => png[i] !== b)) {
    throw new TeeError('BAD_PARAMETERS', 'qr: image is not a PNG', 'API');
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width === 0 || height === 0 || width > QR_MAX_IMAGE_SIDE || height > QR_MAX_IMAGE_SIDE) {
    throw new TeeError('BAD_PARAMETERS', `qr: image size ${width}x${height} outside 1..${QR_MAX_IMAGE_SIDE}`, 'API');
  }
}

export function decodeQrPng(png: Uint8Array): string {
  abytes(png, 'qr: image', { max: QR_MAX_PNG_BYTES });
  checkPngHeader(png);
  let image: PNG;
  try {
    image = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'qr: malformed PNG', 'API');
  }
  // pngjs hands back 8-bit RGBA whatever the source colour type, which is what jsQR expects.
  const pixels = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  let found: JsQrCode | null;
  try {
    found = jsQR(pixels, image.width, image.height);
  } catch {
    found = null;
  }
  if (!found) throw new TeeError('BAD_PARAMETERS', 'qr: no QR code found in image', 'API');
  return found.data;
}
