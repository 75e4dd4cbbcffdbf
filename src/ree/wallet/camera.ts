/**
 * The phones' screens and cameras: a QR text becomes a PNG on one phone and is read back from the
 * pixels on the other, so every flow proves the image round trip (a damaged image is a clear error).
 */
import { decodeQrPng, renderQrPng } from '../qr/index.js';

export function showQr(text: string): Promise<Uint8Array> {
  return renderQrPng(text, { scale: 2, margin: 4 });
}

/** BAD_PARAMETERS 'qr: ...' if the image holds no readable code. */
export function scanQr(png: Uint8Array): string {
  return decodeQrPng(png);
}
