import { describe, it, expect } from 'vitest';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import {
  decodeQrPng,
  decodeQrText,
  encodeQrText,
  renderQrPng,
  renderQrTerminal,
  QR_MAX_TEXT_CHARS,
  decodeBase45,
  QR_PAYLOAD_TYPES,
  type QrEnvelope,
} from '../../../src/ree/qr/index.js';
import { TeeError, type TeeErrorCode } from '../../../src/common/errors.js';

const NOW = 1_800_000_000_000;

function body(size: number, seed: number): Uint8Array {
  // Deterministic, incompressible-looking bytes (signatures and ids in real bodies look like this).
  const out = new Uint8Array(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function expectError(promiseOrFn: (() => unknown) | Promise<unknown>, code: TeeErrorCode, message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TeeError);
  expect((caught as TeeError).code).toBe(code);
  expect((caught as TeeError).message).toMatch(message);
}

/** Decode a PNG, let `edit` change its RGBA pixels, and encode it again. */
function editPng(png: Uint8Array, edit: (image: PNG) => void): Uint8Array {
  const image = PNG.sync.read(Buffer.from(png));
  edit(image);
  return new Uint8Array(PNG.sync.write(image));
}

function fillRect(image: PNG, x0: number, y0: number, w: number, h: number, value: (x: number, y: number) => number): void {
  for (let y = y0; y < Math.min(image.height, y0 + h); y++) {
    for (let x = x0; x < Math.min(image.width, x0 + w); x++) {
      const i = (y * image.width + x) * 4;
      const v = value(x, y);
      image.data[i] = image.data[i + 1] = image.data[i + 2] = v;
      image.data[i + 3] = 255;
    }
  }
}

describe('QR images', () => {
  describe('envelope -> text -> PNG -> text -> envelope', () => {
    for (const size of [50, 300, 1200]) {
      it(`round-trips every payload type with a ${size}-byte body`, async () => {
        for (const [i, type] of QR_PAYLOAD_TYPES.entries()) {
          const env: QrEnvelope = { version: 1, type, issuedAt: NOW, expiresAt: NOW + 60_000, body: body(size, i) };
          const text = encodeQrText(env);
          const png = await renderQrPng(text);
          expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
          const scanned = decodeQrPng(png);
          expect(scanned).toBe(text);
          expect(decodeQrText(scanned, { now: NOW })).toEqual(env);
        }
      });
    }
  });

  it('keeps the whole code in QR alphanumeric mode (the point of base45)', () => {
    const text = encodeQrText({ version: 1, type: 'offline-payment', issuedAt: NOW, expiresAt: NOW, body: body(1200, 2) });
    const symbol = QRCode.create(text, { errorCorrectionLevel: 'M' });
    expect(symbol.segments.map((s) => s.mode.id)).toEqual(['Alphanumeric']);
    // The same envelope bytes as base64url would need byte mode and a larger symbol.
    const base64 = QRCode.create('TS1:' + Buffer.from(decodeBase45(text.slice(4))).toString('base64url'), { errorCorrectionLevel: 'M' });
    expect(symbol.version).toBeLessThan(base64.version);
  });

  it('honours scale and margin', async () => {
    const text = encodeQrText({ version: 1, type: 'receipt', issuedAt: NOW, expiresAt: NOW, body: body(30, 9) });
    const small = PNG.sync.read(Buffer.from(await renderQrPng(text, { scale: 2, margin: 1 })));
    const large = PNG.sync.read(Buffer.from(await renderQrPng(text, { scale: 6, margin: 4 })));
    // Same module count n: (n + 2) * 2 and (n + 8) * 6.
    expect((small.width / 2 - 2) * 6 + 48).toBe(large.width);
    expect(decodeQrPng(await renderQrPng(text, { scale: 2, margin: 1 }))).toBe(text);
  });

  it('still reads a code with a small blot (error correction) and an inverted code', async () => {
    const text = encodeQrText({ version: 1, type: 'offline-offer', issuedAt: NOW, expiresAt: NOW, body: body(120, 3) });
    const png = await renderQrPng(text);
    const blotted = editPng(png, (img) => fillRect(img, Math.floor(img.width * 0.45), Math.floor(img.height * 0.45), 8, 8, () => 255));
    expect(decodeQrPng(blotted)).toBe(text);
    const inverted = editPng(png, (img) => fillRect(img, 0, 0, img.width, img.height, (x, y) => 255 - img.data[(y * img.width + x) * 4]!));
    expect(decodeQrPng(inverted)).toBe(text);
  });

  it('renders for a terminal with block characters', async () => {
    const text = encodeQrText({ version: 1, type: 'online-request', issuedAt: NOW, expiresAt: NOW, body: body(50, 1) });
    const plain = await renderQrTerminal(text);
    expect(plain.length).toBeGreaterThan(0);
    expect(plain).toMatch(/[█▀▄]/);
    expect(plain).not.toMatch(/\u001b\[/);
    const ansi = await renderQrTerminal(text, { ansi: true });
    expect(ansi).toMatch(/[█▀▄]/);
    expect(ansi).toMatch(/\u001b\[/);
  });

  describe('rendering refuses bad input', () => {
    it('empty or oversized text', async () => {
      await expectError(renderQrPng(''), 'BAD_PARAMETERS', /qr: text/);
      await expectError(renderQrTerminal('A'.repeat(QR_MAX_TEXT_CHARS + 1)), 'BAD_PARAMETERS', /qr: text/);
    });
    it('text that fits no level-M code', async () => {
      // Byte mode holds far less than alphanumeric mode: 3000 lowercase characters cannot fit.
      await expectError(renderQrPng('a'.repeat(3000)), 'BAD_PARAMETERS', /does not fit in a QR code/);
    });
    it('bad scale or margin', async () => {
      await expectError(renderQrPng('TS1:', { scale: 0 }), 'BAD_PARAMETERS', /qr: scale/);
      await expectError(renderQrPng('TS1:', { margin: 1.5 }), 'BAD_PARAMETERS', /qr: margin/);
    });
  });

  describe('scanning refuses bad images with BAD_PARAMETERS', () => {
    it('a blank PNG', async () => {
      const blank = new PNG({ width: 200, height: 200 });
      blank.data.fill(255);
      await expectError(() => decodeQrPng(new Uint8Array(PNG.sync.write(blank))), 'BAD_PARAMETERS', /^qr: no QR code found in image$/);
    });

    it('a heavily damaged code', async () => {
      const text = encodeQrText({ version: 1, type: 'offline-payment', issuedAt: NOW, expiresAt: NOW, body: body(300, 5) });
      const png = await renderQrPng(text);
      // Noise over the middle half of the symbol: far beyond what level M can correct.
      const damaged = editPng(png, (img) => {
        let seed = 7;
        fillRect(img, img.width / 4, img.height / 4, img.width / 2, img.height / 2, () => {
          seed = (seed * 1103515245 + 12345) >>> 0;
          return seed & 0x10000 ? 0 : 255;
        });
      });
      await expectError(() => decodeQrPng(damaged), 'BAD_PARAMETERS', /^qr: no QR code found in image$/);
    });

    it('bytes that are not a PNG', async () => {
      await expectError(() => decodeQrPng(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...new Uint8Array(40)])), 'BAD_PARAMETERS', /^qr: image is not a PNG$/);
      await expectError(() => decodeQrPng(new Uint8Array()), 'BAD_PARAMETERS', /not a PNG/);
      await expectError(() => decodeQrPng('iVBORw0KGgo=' as never), 'BAD_PARAMETERS', /qr: image: expected bytes/);
    });

    it('a truncated or corrupted PNG', async () => {
      const png = await renderQrPng('TS1:ABC');
      await expectError(() => decodeQrPng(png.slice(0, png.length / 2)), 'BAD_PARAMETERS', /^qr: malformed PNG$/);
      const corrupted = png.slice();
      corrupted.fill(0x42, 40, 80);
      await expectError(() => decodeQrPng(corrupted), 'BAD_PARAMETERS', /^qr: malformed PNG$/);
    });

    it('a PNG header claiming a huge image, before allocating it', async () => {
      const png = (await renderQrPng('TS1:ABC')).slice();
      new DataView(png.buffer).setUint32(16, 100_000);
      await expectError(() => decodeQrPng(png), 'BAD_PARAMETERS', /image size 100000x\d+ outside 1\.\.4096/);
    });
  });
});
