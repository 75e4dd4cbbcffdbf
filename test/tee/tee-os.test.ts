/** The TEE OS as a whole: TA installation, attestation PTA, trusted UI, trusted-key channel, shutdown. */
import { asyncFailure as failure, failure as syncFailure } from '../support/errors.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { RawRequest, sendBytes, sendRequest } from '../support/driver.js';
import { acceptChannel, connectChannel, createChannelIdentity, createMemoryTransportPair, createRoot, type SecureChannel } from '../../src/channel/index.js';
import {
  ReeCapture,
  finalizeContext,
  initializeContext,
  invokeCommand,
  memrefOutput,
  openSession,
  type Param,
} from '../../src/ree/client-api/index.js';
import {
  ATTESTATION_CMD,
  ATTESTATION_TA_UUID,
  TeeOs,
  decodeAttestationReport,
  measureTaCode,
  signTaManifest,
  teePrivateDir,
  verifyAttestation,
  type TaPackage,
} from '../../src/tee/index.js';
import { CMD, testTa } from './fixtures/test-ta.js';
import { TA_A, TA_B, bootTee, provider, taSigningKey, tempDir, testPackage, testTaCode, trustedTaSigners, vendor, type BootedTee } from './helpers.js';



describe('TEE OS', () => {
  let b: BootedTee;
  beforeAll(async () => {
    b = await bootTee();
  });
  afterAll(async () => {
    await b.cleanup();
  });

  describe('TA installation', () => {
    const uuid = 'f0f0f0f0-0000-4000-8000-0000000000f0';
    const good = () => testPackage(uuid);

    async function cannotOpen(): Promise<void> {
      const ctx = await initializeContext(b.tee.driver);
      expect((await failure(openSession(ctx, uuid))).code).toBe('ITEM_NOT_FOUND');
      await finalizeContext(ctx);
    }

    it.each<[string, () => [TaPackage, Uint8Array], RegExp]>([
      ['unsigned', () => [{ manifest: good().manifest }, testTaCode], /unsigned/],
      [
        're-signed by an unknown key',
        () => {
          const rogue = provider.generateKeyPair('ed25519');
          return [signTaManifest(provider, { ...taSigningKey, secretKey: rogue.secretKey }, good().manifest), testTaCode];
        },
        /does not verify/,
      ],
      ['altered manifest', () => [{ ...good(), manifest: { ...good().manifest, flags: { singleInstance: true } } }, testTaCode], /does not verify/],
      ['altered code', () => [good(), utf8(new TextDecoder().decode(testTaCode) + '\n// backdoor')], /code does not match/],
    ])('refuses a package that is %s, and the TA can never be opened', async (_name, make, message) => {
      const [pkg, code] = make();
      const e = syncFailure(() => b.tee.installTa(pkg, code, testTa));
      expect(e.code).toBe('SECURITY');
      expect(e.message).toMatch(message);
      await cannotOpen();
    });

    it('refuses a second TA with the same UUID, and the attestation PTA UUID', () => {
      expect(syncFailure(() => b.tee.installTa(testPackage(TA_A), testTaCode, testTa)).code).toBe('ACCESS_CONFLICT');
      expect(syncFailure(() => b.tee.installTa(testPackage(ATTESTATION_TA_UUID), testTaCode, testTa)).code).toBe('ACCESS_CONFLICT');
    });

    it('lists installed TAs with their measurements', () => {
      const listed = b.tee.installedTas.find((t) => t.uuid === TA_A);
      expect(listed?.measurement).toEqual(measureTaCode(provider, testTaCode));
      expect(b.tee.installedTas.some((t) => t.uuid === ATTESTATION_TA_UUID)).toBe(false);
    });
  });

  describe('attestation pseudo-TA', () => {
    async function attest(tee: TeeOs, nonce: Uint8Array) {
      const ctx = await initializeContext(tee.driver);
      try {
        const s = await openSession(ctx, ATTESTATION_TA_UUID);
        const p: Param[] = [{ type: 'memref_input', buffer: nonce }, { type: 'memref_output', buffer: new Uint8Array(8192) }];
        await invokeCommand(s, ATTESTATION_CMD.ATTEST, p);
        return decodeAttestationReport(memrefOutput(p[1]!));
      } finally {
        await finalizeContext(ctx);
      }
    }

    it('produces a report the verifier accepts for its nonce and the installed TAs', async () => {
      const nonce = provider.randomBytes(32);
      const report = await attest(b.tee, nonce);
      const claims = verifyAttestation(provider, report, vendor.root, nonce, [
        { uuid: TA_A, measurement: measureTaCode(provider, testTaCode) },
        { uuid: TA_B, measurement: measureTaCode(provider, testTaCode) },
      ]);
      expect(claims.measurements.map((m) => m.uuid)).toEqual(expect.arrayContaining([TA_A, TA_B]));
      expect(claims.trustedKeyIdentity).toBeUndefined();
    });

    it('reports that do not match what the verifier expects are refused', async () => {
      const nonce = provider.randomBytes(32);
      const report = await attest(b.tee, nonce);
      expect(syncFailure(() => verifyAttestation(provider, report, vendor.root, provider.randomBytes(32))).code).toBe('SECURITY');
      const otherVendor = createRoot(provider, 'vendor-root', 'p256');
      expect(syncFailure(() => verifyAttestation(provider, report, otherVendor.root, nonce)).code).toBe('SECURITY');
      const wrongCode = [{ uuid: TA_A, measurement: provider.sha256(utf8('other code')) }];
      expect(syncFailure(() => verifyAttestation(provider, report, vendor.root, nonce, wrongCode)).code).toBe('SECURITY');
    });

    it('checks its parameters and nonce length', async () => {
      const ctx = await initializeContext(b.tee.driver);
      const s = await openSession(ctx, ATTESTATION_TA_UUID);
      const out = (): Param => ({ type: 'memref_output', buffer: new Uint8Array(8192) });
      await expect(invokeCommand(s, ATTESTATION_CMD.ATTEST, [out()])).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
      await expect(invokeCommand(s, ATTESTATION_CMD.ATTEST, [{ type: 'memref_input', buffer: new Uint8Array(4) }, out()])).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
      await expect(invokeCommand(s, 77, [])).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
      await expect(
        invokeCommand(s, ATTESTATION_CMD.ATTEST, [{ type: 'memref_input', buffer: new Uint8Array(32) }, { type: 'memref_output', buffer: new Uint8Array(16) }]),
      ).rejects.toMatchObject({ code: 'OVERFLOW' });
      await finalizeContext(ctx);
    });

    it('is NOT_SUPPORTED on a device without an attestation key', async () => {
      const { dir, cleanup } = await tempDir();
      const tee = await TeeOs.create({ provider, dataDir: dir, trustedTaSigners });
      try {
        await expect(attest(tee, provider.randomBytes(32))).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
      } finally {
        await tee.close();
        await cleanup();
      }
    });
  });

  describe('trusted UI', () => {
    const confirm = async (text: string) => {
      const ctx = await initializeContext(b.tee.driver, { capture: capture.hook });
      try {
        const s = await openSession(ctx, TA_A);
        const p: Param[] = [{ type: 'memref_input', buffer: utf8(text) }, { type: 'value_output', a: 0, b: 0 }];
        await invokeCommand(s, CMD.CONFIRM, p);
        return (p[1] as { a: number }).a;
      } finally {
        await finalizeContext(ctx);
      }
    };
    const capture = new ReeCapture();

    it('cancels when no user is present', async () => {
      b.tee.trustedUi.setUser(undefined);
      const e = await failure(confirm('Pay 5.00'));
      expect([e.code, e.origin]).toEqual(['CANCEL', 'TRUSTED_APP']);
    });

    it('shows the TA text to the user; the PIN reaches the TA and never the REE', async () => {
      const pin = utf8('1234');
      const shown: string[] = [];
      b.tee.trustedUi.setUser((prompt) => {
        shown.push(...prompt.lines);
        return { confirmed: true, pin: pin.slice() };
      });
      expect(await confirm('Pay 5.00 to shop')).toBe(1);
      expect(shown).toEqual(['Pay 5.00 to shop']);
      expect(capture.contains(pin)).toBe(false);
      expect(capture.contains(utf8('"1234"'))).toBe(false);
      b.tee.trustedUi.setUser(() => ({ confirmed: true, pin: utf8('0000') }));
      expect(await confirm('Pay again')).toBe(0);
      b.tee.trustedUi.setUser(undefined);
    });

    it('offers the REE no way to answer or read the screen', async () => {
      const init = await sendRequest(b.tee.driver, { op: 'initializeContext' });
      const context = init.context as Uint8Array;
      // The driver has five ops; any other op code, followed by what a screen answer would carry, is refused.
      for (const op of [0, 6, 7, 0x54, 0xff]) {
        const bytes = RawRequest.start(op).raw(context).u8(1).str16('1234').done();
        expect(await sendBytes(b.tee.driver, bytes)).toMatchObject({ ok: false, code: 'BAD_PARAMETERS' });
      }
      await sendRequest(b.tee.driver, { op: 'finalizeContext', context });
      const logText = JSON.stringify(b.tee.trustedUi.log);
      expect(logText).not.toContain('1234');
    });
  });

  describe('trusted key channel', () => {
    let tkSide: SecureChannel;
    let teeSide: SecureChannel;
    beforeAll(async () => {
      const root = createRoot(provider, 'device-root', 'ed25519');
      const teeId = createChannelIdentity(provider, root.issuer, { role: 'tee-os', subject: 'tee-1', trustedRoots: [root.root], expectedPeerRole: 'trusted-key' });
      const tkId = createChannelIdentity(provider, root.issuer, { role: 'trusted-key', subject: 'tk-1', trustedRoots: [root.root], expectedPeerRole: 'tee-os' });
      const [a, c] = createMemoryTransportPair();
      [tkSide, teeSide] = await Promise.all([connectChannel(a, tkId, { provider }), acceptChannel(c, teeId, { provider })]);
      b.tee.attachTrustedKey(teeSide);
    });
    afterAll(() => {
      tkSide.close();
    });

    it('forgets the channel once it closes', async () => {
      const root = createRoot(provider, 'device-root-2', 'ed25519');
      const teeId = createChannelIdentity(provider, root.issuer, { role: 'tee-os', subject: 'tee-2', trustedRoots: [root.root], expectedPeerRole: 'trusted-key' });
      const tkId = createChannelIdentity(provider, root.issuer, { role: 'trusted-key', subject: 'tk-2', trustedRoots: [root.root], expectedPeerRole: 'tee-os' });
      const [a, c] = createMemoryTransportPair();
      const [tk2, tee2] = await Promise.all([connectChannel(a, tkId, { provider }), acceptChannel(c, teeId, { provider })]);
      const other = await bootTee();
      try {
        other.tee.attachTrustedKey(tee2);
        expect(other.tee.trustedKey).toBe(tee2);
        const closed = new Promise<void>((r) => tee2.onClose(() => r()));
        tk2.close();
        await closed;
        expect(other.tee.trustedKey).toBeUndefined();
      } finally {
        await other.cleanup();
      }
    });

    it('lets the trusted key drive the trusted UI, and get the PIN over the channel', async () => {
      b.tee.trustedUi.setUser((p) => ({ confirmed: p.title === 'Sign payment', pin: utf8('2468') }));
      const r = (await tkSide.call('tui.confirm', { title: 'Sign payment', lines: ['12.00 EUR'], requirePin: true })) as { confirmed: boolean; pin: Uint8Array };
      expect(r.confirmed).toBe(true);
      expect(r.pin).toEqual(utf8('2468'));
      await tkSide.call('tui.message', { text: 'Payment signed' });
      expect(b.tee.trustedUi.log.at(-1)).toMatchObject({ kind: 'message', text: 'Payment signed' });
      b.tee.trustedUi.setUser(undefined);
      await expect(tkSide.call('tui.confirm', { title: 'x', lines: [], requirePin: false })).rejects.toMatchObject({ code: 'CANCEL' });
      await expect(tkSide.call('tui.confirm', { title: 'x\ny', lines: [], requirePin: false })).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
    });

    it('exposes the channel to TAs and its identity to attestation', async () => {
      expect(b.tee.trustedKey).toBe(teeSide);
      const ctx = await initializeContext(b.tee.driver);
      const s = await openSession(ctx, ATTESTATION_TA_UUID);
      const nonce = provider.randomBytes(16);
      const p: Param[] = [{ type: 'memref_input', buffer: nonce }, { type: 'memref_output', buffer: new Uint8Array(8192) }];
      await invokeCommand(s, ATTESTATION_CMD.ATTEST, p);
      const claims = verifyAttestation(provider, decodeAttestationReport(memrefOutput(p[1]!)), vendor.root, nonce);
      expect(claims.trustedKeyIdentity).toEqual({ subject: 'tk-1', publicKey: teeSide.peer.publicKey });
      await finalizeContext(ctx);
    });
  });
});

describe('TEE OS boot and shutdown', () => {
  it('keeps a generated HUK in the TEE-private dir and reuses it', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const first = await TeeOs.create({ provider, dataDir: dir, trustedTaSigners });
      await first.close();
      const hukFile = await stat(join(teePrivateDir(dir), 'huk'));
      expect(hukFile.size).toBe(32);
      expect(hukFile.mode & 0o077).toBe(0);
      const second = await TeeOs.create({ provider, dataDir: dir, trustedTaSigners });
      await second.close();
    } finally {
      await cleanup();
    }
  });

  it('uses a given HUK without wiping the caller\'s buffer', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const huk = Buffer.from(provider.randomBytes(32));
      const copy = new Uint8Array(huk);
      const tee = await TeeOs.create({ provider, dataDir: dir, trustedTaSigners, hardwareUniqueKey: huk });
      await tee.close();
      expect(new Uint8Array(huk)).toEqual(copy);
      await expect(stat(join(teePrivateDir(dir), 'huk'))).rejects.toThrow();
    } finally {
      await cleanup();
    }
  });

  it('refuses a HUK of the wrong size', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await expect(TeeOs.create({ provider, dataDir: dir, trustedTaSigners, hardwareUniqueKey: new Uint8Array(16) })).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
    } finally {
      await cleanup();
    }
  });

  it('answers BAD_STATE once closed', async () => {
    const b = await bootTee();
    const ctx = await initializeContext(b.tee.driver);
    await b.cleanup();
    await expect(openSession(ctx, TA_A)).rejects.toMatchObject({ code: 'BAD_STATE', origin: 'TEE' });
    expect(syncFailure(() => b.tee.installTa(testPackage('99999999-0000-4000-8000-000000000009'), testTaCode, testTa)).code).toBe('BAD_STATE');
  });
});
