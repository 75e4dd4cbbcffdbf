/**
 * The record layer alone (open's set check would otherwise catch these first): a record opens only
 * in its own slot, at its own version, under its own namespace key, and unchanged.
 */
import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { deriveNamespaceKeys } from '../../src/storage/keys.js';
import { encodePlaintext, objectKey, openRecord, recordVersion, sealRecord } from '../../src/storage/record.js';
import { flipBit, ROOT_KEY } from './helpers.js';

describe.each(Object.values(PROVIDERS))('object records ($name)', (provider) => {
  const storeId = new Uint8Array(32).fill(9);
  const keys = deriveNamespaceKeys(provider, ROOT_KEY, storeId, 'ta-one');
  const otherKeys = deriveNamespaceKeys(provider, ROOT_KEY, storeId, 'ta-two');
  const key = objectKey(provider, keys, 'pin');
  const data = Uint8Array.of(1, 2, 3);
  const { value } = sealRecord(provider, keys, key, 7, encodePlaintext('pin', data), provider.randomBytes(12));

  const rejects = (fn: () => unknown) => {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TeeError);
    expect((caught as TeeError).code).toBe('CORRUPT_OBJECT');
  };

  it('opens in its own slot and reports its version', () => {
    expect(recordVersion(value)).toBe(7);
    expect(openRecord(provider, keys, key, value, 'pin')).toEqual({ id: 'pin', data });
    expect(openRecord(provider, keys, key, value).id).toBe('pin'); // id recovered for list()
  });

  it('keeps versions beyond 32 bits', () => {
    const version = 2 ** 40 + 5;
    const sealed = sealRecord(provider, keys, key, version, encodePlaintext('pin', data), provider.randomBytes(12));
    expect(recordVersion(sealed.value)).toBe(version);
    expect(sealed.keyed.subarray(0, key.length)).toEqual(key);
    expect(openRecord(provider, keys, key, sealed.value, 'pin').data).toEqual(data);
  });

  it('keeps every safe version and refuses a header beyond 2^53 - 1', () => {
    const max = sealRecord(provider, keys, key, Number.MAX_SAFE_INTEGER, encodePlaintext('pin', data), provider.randomBytes(12));
    expect(recordVersion(max.value)).toBe(Number.MAX_SAFE_INTEGER);
    expect(openRecord(provider, keys, key, max.value, 'pin').data).toEqual(data);
    const beyond = new Uint8Array(max.value);
    new DataView(beyond.buffer).setBigUint64(1, 2n ** 53n);
    rejects(() => recordVersion(beyond));
    new DataView(beyond.buffer).setBigUint64(1, 2n ** 64n - 1n);
    rejects(() => recordVersion(beyond));
  });

  it('encodes ids of any script as UTF-8, the ASCII ones byte by byte alike', () => {
    for (const id of ['pin', 'a', 'x'.repeat(128), 'payé', '收款码', 'key 🚀 /1', '\u007f\u0080']) {
      const idBytes = new TextEncoder().encode(id);
      const expected = new Uint8Array(2 + idBytes.length + data.length);
      new DataView(expected.buffer).setUint16(0, idBytes.length);
      expected.set(idBytes, 2);
      expected.set(data, 2 + idBytes.length);
      expect(encodePlaintext(id, data)).toEqual(expected);
      const slot = objectKey(provider, keys, id);
      const sealed = sealRecord(provider, keys, slot, 3, encodePlaintext(id, data), provider.randomBytes(12));
      expect(openRecord(provider, keys, slot, sealed.value)).toEqual({ id, data });
    }
  });

  it('does not open in another slot, namespace, or with an edited version or any flipped bit', () => {
    rejects(() => openRecord(provider, keys, objectKey(provider, keys, 'other'), value));
    rejects(() => openRecord(provider, otherKeys, objectKey(provider, otherKeys, 'pin'), value));
    const older = new Uint8Array(value);
    new DataView(older.buffer).setBigUint64(1, 6n);
    rejects(() => openRecord(provider, keys, key, older));
    for (let bit = 0; bit < value.length * 8; bit += 7) rejects(() => openRecord(provider, keys, key, flipBit(value, bit)));
    rejects(() => openRecord(provider, keys, key, value.subarray(0, 20)));
  });

  it('keys do not reveal ids and differ per namespace', () => {
    expect(objectKey(provider, keys, 'pin')).toEqual(key);
    expect(objectKey(provider, otherKeys, 'pin')).not.toEqual(key);
    expect(Buffer.from(key).includes(Buffer.from('pin'))).toBe(false);
  });
});
