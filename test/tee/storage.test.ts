/** Secure storage as TAs see it: round trip, per-TA isolation, persistence, tampering and rollback. */
import { cp, rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Level } from 'level';
import { TeeError } from '../../src/common/errors.js';
import { fromUtf8, utf8 } from '../../src/common/bytes.js';
import { closeSession, finalizeContext, initializeContext, invokeCommand, memrefOutput, openSession, type Param, type TeecSession } from '../../src/ree/client-api/index.js';
import { TeeOs, reeFsDir } from '../../src/tee/index.js';
import { CMD } from './fixtures/test-ta.js';
import { TA_A, TA_B, bootTee, provider, tempDir, trustedTaSigners } from './helpers.js';
import { rejectionCode as codeOf } from '../support/errors.js';

const put = (s: TeecSession, id: string, data: Uint8Array) =>
  invokeCommand(s, CMD.STORE_PUT, [{ type: 'memref_input', buffer: utf8(id) }, { type: 'memref_input', buffer: data }]);

async function get(s: TeecSession, id: string): Promise<Uint8Array> {
  const p: Param[] = [{ type: 'memref_input', buffer: utf8(id) }, { type: 'memref_output', buffer: new Uint8Array(4096) }];
  await invokeCommand(s, CMD.STORE_GET, p);
  return memrefOutput(p[1]!).slice();
}

async function withSession<T>(tee: TeeOs, uuid: string, fn: (s: TeecSession) => Promise<T>): Promise<T> {
  const ctx = await initializeContext(tee.driver);
  try {
    return await fn(await openSession(ctx, uuid));
  } finally {
    await finalizeContext(ctx);
  }
}

describe('secure storage through TAs', () => {
  it('round-trips an object and keeps it across a TEE restart', async () => {
    const b = await bootTee({ hardwareUniqueKey: undefined });
    try {
      await withSession(b.tee, TA_A, async (s) => {
        await put(s, 'greeting', utf8('hello storage'));
        expect(fromUtf8(await get(s, 'greeting'))).toBe('hello storage');
      });
      await b.tee.close();
      const again = await bootTee({ dir: b.dir });
      try {
        await withSession(again.tee, TA_A, async (s) => expect(fromUtf8(await get(s, 'greeting'))).toBe('hello storage'));
      } finally {
        await again.tee.close();
      }
    } finally {
      await b.cleanup();
    }
  });

  it('isolates TAs: TA B cannot read, overwrite or delete TA A objects', async () => {
    const b = await bootTee();
    try {
      await withSession(b.tee, TA_A, (s) => put(s, 'secret-object', utf8('A only')));
      await withSession(b.tee, TA_B, async (s) => {
        expect(await codeOf(get(s, 'secret-object'))).toBe('ITEM_NOT_FOUND');
        expect(await codeOf(invokeCommand(s, CMD.STORE_DELETE, [{ type: 'memref_input', buffer: utf8('secret-object') }]))).not.toBe('resolved');
        await put(s, 'secret-object', utf8('B was here'));
      });
      await withSession(b.tee, TA_A, async (s) => expect(fromUtf8(await get(s, 'secret-object'))).toBe('A only'));
    } finally {
      await b.cleanup();
    }
  });

  it('keeps plaintext out of the REE-visible files', async () => {
    const b = await bootTee();
    try {
      await withSession(b.tee, TA_A, (s) => put(s, 'obj', utf8('PLAINTEXT-MARKER-4711')));
      await b.tee.close();
      const { readdir, readFile } = await import('node:fs/promises');
      const dir = reeFsDir(b.dir);
      for (const f of await readdir(dir)) {
        const bytes = await readFile(`${dir}/${f}`);
        expect(bytes.includes(Buffer.from('PLAINTEXT-MARKER-4711'))).toBe(false);
      }
    } finally {
      await b.cleanup();
    }
  });

  it('refuses a different HUK: the same files do not open as another device', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const first = await bootTee({ dir, hardwareUniqueKey: provider.randomBytes(32) });
      await withSession(first.tee, TA_A, (s) => put(s, 'obj', utf8('device one')));
      await first.tee.close();
      let opened: TeeOs | undefined;
      let code = 'ok';
      try {
        opened = (await bootTee({ dir, hardwareUniqueKey: provider.randomBytes(32) })).tee;
        code = await codeOf(withSession(opened, TA_A, (s) => get(s, 'obj')));
      } catch (err) {
        code = err instanceof TeeError ? err.code : 'not a TeeError';
      } finally {
        await opened?.close();
      }
      // Another device's key cannot authenticate this store: refused at boot.
      expect(['SECURITY', 'CORRUPT_OBJECT']).toContain(code);
    } finally {
      await cleanup();
    }
  });

  it('detects a bit flip in any record the REE can see, and works again once it is undone', async () => {
    const b = await bootTee();
    try {
      await withSession(b.tee, TA_A, (s) => put(s, 'victim', utf8('value to tamper with')));
      await b.tee.close();
      const openDb = async () => {
        const db = new Level<Uint8Array, Uint8Array>(reeFsDir(b.dir), { keyEncoding: 'view', valueEncoding: 'view' });
        await db.open();
        return db;
      };
      let db = await openDb();
      // Detached copies (Buffer#slice would only be a view).
      const entries = (await db.iterator().all()).map(([k, v]) => [new Uint8Array(k), new Uint8Array(v)] as const);
      await db.close();
      expect(entries.length).toBeGreaterThan(0);
      for (const [key, value] of entries) {
        for (const bit of [0, value.length * 8 - 1]) {
          // The REE owns these files: flip one bit of one record.
          const flipped = new Uint8Array(value);
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          db = await openDb();
          await db.put(key, flipped);
          await db.close();
          let code: string;
          try {
            const again = await bootTee({ dir: b.dir });
            try {
              code = await codeOf(withSession(again.tee, TA_A, (s) => get(s, 'victim')));
            } finally {
              await again.tee.close();
            }
          } catch (err) {
            code = err instanceof TeeError ? err.code : 'not a TeeError';
          }
          expect(['CORRUPT_OBJECT', 'SECURITY']).toContain(code);
          db = await openDb();
          await db.put(key, value);
          await db.close();
        }
      }
      const restored = await bootTee({ dir: b.dir });
      try {
        await withSession(restored.tee, TA_A, async (s) => expect(fromUtf8(await get(s, 'victim'))).toBe('value to tamper with'));
      } finally {
        await restored.tee.close();
      }
    } finally {
      await b.cleanup();
    }
  });

  it('detects a rollback of the REE-visible store', async () => {
    const b = await bootTee();
    const { dir: backup, cleanup } = await tempDir();
    try {
      await withSession(b.tee, TA_A, (s) => put(s, 'balance', utf8('100')));
      await b.tee.close();
      await cp(reeFsDir(b.dir), backup, { recursive: true });
      const spend = await bootTee({ dir: b.dir });
      await withSession(spend.tee, TA_A, (s) => put(s, 'balance', utf8('10')));
      await spend.tee.close();
      // The REE restores its copy from before the spend.
      await rm(reeFsDir(b.dir), { recursive: true, force: true });
      await cp(backup, reeFsDir(b.dir), { recursive: true });
      let code = 'ok';
      try {
        const rolledBack = await TeeOs.create({ provider, dataDir: b.dir, trustedTaSigners });
        await rolledBack.close();
      } catch (err) {
        code = err instanceof TeeError ? err.code : 'not a TeeError';
      }
      expect(code).toBe('SECURITY');
    } finally {
      await cleanup();
      await b.cleanup();
    }
  });
});

describe('closing sessions', () => {
  it('does not lose stored objects', async () => {
    const b = await bootTee();
    try {
      const ctx = await initializeContext(b.tee.driver);
      const s = await openSession(ctx, TA_A);
      await put(s, 'k', utf8('v'));
      await closeSession(s);
      await withSession(b.tee, TA_A, async (s2) => expect(fromUtf8(await get(s2, 'k'))).toBe('v'));
      await finalizeContext(ctx);
    } finally {
      await b.cleanup();
    }
  });
});
