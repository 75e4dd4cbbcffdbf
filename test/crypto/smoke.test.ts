import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/crypto/index.js';

describe('crypto providers', () => {
  it('sign with one provider, verify with the other', () => {
    const msg = new Uint8Array([1, 2, 3]);
    for (const a of Object.values(PROVIDERS)) {
      for (const b of Object.values(PROVIDERS)) {
        const kp = a.generateKeyPair('p256');
        expect(b.verify('p256', kp.publicKey, msg, a.sign('p256', kp.secretKey, msg))).toBe(true);
      }
    }
  });
});
