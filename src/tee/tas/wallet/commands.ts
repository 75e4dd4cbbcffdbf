/**
 * The wallet TA's interface, shared with the REE wallet: its UUID, command ids, and the shape of each
 * command's arguments and result. Convention for every command:
 *
 *   param0  memref_input   msgpack-encoded arguments (an object; `{}` when there are none)
 *   param1  memref_output  msgpack-encoded result (offer resultCapacity(command, args) bytes)
 *   param2  handle_input   the key handle, for the commands marked `handle` below; else none
 *   param3  none
 *
 * Wrong parameter types -> BAD_PARAMETERS before anything else. Handles are bound to the session that
 * received them: meaningless in another session, after CLOSE_HANDLE, or after the session closes.
 */
import type { PinStatus } from '../../../protocol/pin.js';

export const WALLET_TA_UUID = '7a11e7a0-3c1b-4e55-9d2a-6b7e5f0c1d01';

/** Large enough for any result of unbounded shape (an offline state with its logs can reach tens of KiB). */
export const RESULT_BUFFER_BYTES = 256 * 1024;
/** Room for a result of small, bounded shape: handles, public keys, statuses. */
export const SMALL_RESULT_BYTES = 4 * 1024;
/**
 * Room for a result of a fixed, tiny shape: a 64-byte signature (P-256 compact or Ed25519), a
 * SHA-256 digest, a verdict, or nothing (77 bytes at most encoded). Offered on every SIGN: a 4 KiB
 * buffer per call for a 77-byte answer cost the REE ~3% of its sign throughput (measured). A larger
 * result is OVERFLOW (GP's SHORT_BUFFER), never truncated.
 */
export const FIXED_RESULT_BYTES = 128;
/** Room for a signed payment statement (a request of up to 4 KiB or an offer of up to 8 KiB, signed) or an identity. */
export const STATEMENT_RESULT_BYTES = 16 * 1024;
/** What ENCRYPT/DECRYPT add to their data: nonce, tag and encoding, with headroom. */
const DATA_RESULT_OVERHEAD_BYTES = 1024;
const MAX_RESULT_BYTES = 1024 * 1024;

export const WALLET_CMD = {
  GET_INFO: 1,
  GENERATE_KEY: 2,
  OPEN_IDENTITY: 3,
  GET_PUBLIC_KEY: 4,
  SIGN: 5,
  VERIFY: 6,
  DERIVE_SHARED_KEY: 7,
  ENCRYPT: 8,
  DECRYPT: 9,
  HASH: 10,
  RANDOM: 11,
  CLOSE_HANDLE: 12,
  SIGN_ONLINE_PAYMENT: 13,
  SIGN_OFFLINE_OFFER: 14,
  PAY_OFFLINE: 15,
  ACCEPT_OFFLINE_PAYMENT: 16,
  OFFLINE_STATE: 17,
  IMPORT_IDENTITY: 18,
  INSTALL_MATRIX: 19,
  GET_PROVISIONING_KEY: 20,
  PIN_STATUS: 21,
  CHANGE_PIN: 22,
  UNBLOCK_PIN: 23,
  SET_INITIAL_PIN: 24,
  OPEN_KEY: 25,
  DELETE_KEY: 26,
} as const;

export type WalletCommand = keyof typeof WALLET_CMD;
export type WalletCommandId = (typeof WALLET_CMD)[WalletCommand];

/**
 * Whether param2 carries a key handle. VERIFY takes either a handle (verify with that key) or none
 * (verify with `algorithm` and `publicKey` from the arguments).
 */
export const WALLET_HANDLE_PARAM: Readonly<Record<WalletCommand, 'required' | 'optional' | 'none'>> = {
  GET_INFO: 'none',
  GENERATE_KEY: 'none',
  OPEN_IDENTITY: 'none',
  GET_PUBLIC_KEY: 'required',
  SIGN: 'required',
  VERIFY: 'optional',
  DERIVE_SHARED_KEY: 'required',
  ENCRYPT: 'required',
  DECRYPT: 'required',
  HASH: 'none',
  RANDOM: 'none',
  CLOSE_HANDLE: 'required',
  SIGN_ONLINE_PAYMENT: 'required',
  SIGN_OFFLINE_OFFER: 'required',
  PAY_OFFLINE: 'required',
  ACCEPT_OFFLINE_PAYMENT: 'required',
  OFFLINE_STATE: 'required',
  IMPORT_IDENTITY: 'none',
  INSTALL_MATRIX: 'none',
  GET_PROVISIONING_KEY: 'none',
  PIN_STATUS: 'none',
  CHANGE_PIN: 'none',
  UNBLOCK_PIN: 'none',
  SET_INITIAL_PIN: 'none',
  OPEN_KEY: 'none',
  DELETE_KEY: 'required',
};

export type WalletKeyAlgorithm = 'p256' | 'ed25519' | 'x25519' | 'chacha20-poly1305' | 'aes-256-gcm';
export type WalletKeyUsage = 'sign' | 'agree' | 'encrypt' | 'payment';

/** Public facts about a key, as the REE sees them (never the key id inside the trusted key). */
export interface WalletKeyInfo {
  handle: Uint8Array;
  algorithm: WalletKeyAlgorithm;
  usage: WalletKeyUsage;
  publicKey?: Uint8Array;
  identity?: { subdomainId: string; userId: string; mode: 'plain' | 'hardened'; identityProof?: Uint8Array };
}

/** The trusted key's PIN status, as the wallet TA passes it on (one shape: src/protocol/pin.ts). */
export type WalletPinStatus = PinStatus;

/** Arguments (param0) and results (param1) per command. */
export interface WalletArgs {
  GET_INFO: Record<string, never>;
  /** With a `label` the key is persistent and can be reopened with OPEN_KEY; without, it lives as long as its handle. */
  GENERATE_KEY: { algorithm: WalletKeyAlgorithm; usage: 'sign' | 'agree' | 'encrypt'; label?: string };
  OPEN_KEY: { label: string };
  OPEN_IDENTITY: { subdomainId: string; userId: string };
  GET_PUBLIC_KEY: Record<string, never>;
  SIGN: { message: Uint8Array };
  VERIFY: { message: Uint8Array; signature: Uint8Array; algorithm?: 'p256' | 'ed25519'; publicKey?: Uint8Array };
  DERIVE_SHARED_KEY: { peerPublicKey: Uint8Array; salt?: Uint8Array; info?: Uint8Array; aead?: 'chacha20-poly1305' | 'aes-256-gcm' };
  ENCRYPT: { plaintext: Uint8Array; aad?: Uint8Array };
  DECRYPT: { ciphertext: Uint8Array; aad?: Uint8Array };
  HASH: { data: Uint8Array };
  RANDOM: { length: number };
  CLOSE_HANDLE: Record<string, never>;
  DELETE_KEY: Record<string, never>;
  /** `request`: encodePaymentRequest bytes (the payee's QR). `display`, if given, must equal the key's own text. */
  SIGN_ONLINE_PAYMENT: { request: Uint8Array; display?: string };
  SIGN_OFFLINE_OFFER: { txId: string; amount: number; currency: string; expiresAt: number };
  /** `offer`: the payee's encodeSigned offer bytes. */
  PAY_OFFLINE: { offer: Uint8Array; display?: string };
  ACCEPT_OFFLINE_PAYMENT: { payment: Uint8Array };
  OFFLINE_STATE: Record<string, never>;
  /** `package`: encodeIssuancePackage bytes from the KMC (ciphertext for the trusted key). */
  IMPORT_IDENTITY: { package: Uint8Array };
  /** `matrix`: encodePublicMatrix bytes. */
  INSTALL_MATRIX: { matrix: Uint8Array };
  GET_PROVISIONING_KEY: Record<string, never>;
  PIN_STATUS: Record<string, never>;
  CHANGE_PIN: Record<string, never>;
  UNBLOCK_PIN: Record<string, never>;
  SET_INITIAL_PIN: Record<string, never>;
}

export interface WalletResults {
  GET_INFO: {
    taVersion: string;
    trustedKey: { connected: boolean; subject?: string; publicKey?: Uint8Array };
    identities: { subdomainId: string; userId: string; mode: 'plain' | 'hardened' }[];
    subdomains: string[];
    kmcPinned: boolean;
    pin: WalletPinStatus;
  };
  GENERATE_KEY: WalletKeyInfo;
  OPEN_KEY: WalletKeyInfo;
  OPEN_IDENTITY: WalletKeyInfo;
  GET_PUBLIC_KEY: { publicKey: Uint8Array };
  SIGN: { signature: Uint8Array };
  VERIFY: { valid: boolean };
  DERIVE_SHARED_KEY: WalletKeyInfo;
  ENCRYPT: { ciphertext: Uint8Array };
  DECRYPT: { plaintext: Uint8Array };
  HASH: { digest: Uint8Array };
  RANDOM: { bytes: Uint8Array };
  CLOSE_HANDLE: Record<string, never>;
  DELETE_KEY: Record<string, never>;
  /** `signed`: encodeSigned(OnlinePayment) bytes, ready for the backend. */
  SIGN_ONLINE_PAYMENT: { signed: Uint8Array };
  SIGN_OFFLINE_OFFER: { signed: Uint8Array };
  PAY_OFFLINE: { signed: Uint8Array };
  ACCEPT_OFFLINE_PAYMENT: { txId: string; amount: number; currency: string; payer: { subdomainId: string; userId: string }; counter: number };
  OFFLINE_STATE: { currency: string; balance: number; counter: number; spent: Uint8Array[]; accepted: Uint8Array[]; pendingOffers: number };
  IMPORT_IDENTITY: { subdomainId: string; userId: string; mode: 'plain' | 'hardened'; publicKey: Uint8Array };
  INSTALL_MATRIX: { subdomainId: string; mode: 'plain' | 'hardened'; rows: number; cols: number };
  GET_PROVISIONING_KEY: { publicKey: Uint8Array };
  PIN_STATUS: WalletPinStatus;
  CHANGE_PIN: WalletPinStatus;
  UNBLOCK_PIN: WalletPinStatus;
  SET_INITIAL_PIN: WalletPinStatus;
}

function byteLength(args: unknown, field: string): number {
  const v = args !== null && typeof args === 'object' ? (args as Record<string, unknown>)[field] : undefined;
  return v instanceof Uint8Array ? v.length : 0;
}

/**
 * The output capacity to offer for a command's result: enough for any result those arguments can
 * produce, so a command never fails with OVERFLOW after its side effects, and no bigger than needed
 * (a caller zeroes what it offers on every call).
 */
export function resultCapacity(command: WalletCommand, args: unknown): number {
  switch (command) {
    case 'GET_INFO':
    case 'OFFLINE_STATE':
      return RESULT_BUFFER_BYTES;
    case 'ENCRYPT':
      return Math.min(MAX_RESULT_BYTES, byteLength(args, 'plaintext') + DATA_RESULT_OVERHEAD_BYTES);
    case 'DECRYPT':
      return Math.min(MAX_RESULT_BYTES, byteLength(args, 'ciphertext') + DATA_RESULT_OVERHEAD_BYTES);
    case 'RANDOM':
      return 4096 + DATA_RESULT_OVERHEAD_BYTES;
    case 'SIGN':
    case 'VERIFY':
    case 'HASH':
    case 'CLOSE_HANDLE':
    case 'DELETE_KEY':
      return FIXED_RESULT_BYTES;
    case 'SIGN_ONLINE_PAYMENT':
    case 'SIGN_OFFLINE_OFFER':
    case 'PAY_OFFLINE':
    case 'ACCEPT_OFFLINE_PAYMENT':
    case 'IMPORT_IDENTITY':
    case 'INSTALL_MATRIX':
    case 'OPEN_IDENTITY':
    case 'OPEN_KEY':
    case 'GET_PUBLIC_KEY':
    case 'GENERATE_KEY':
    case 'DERIVE_SHARED_KEY':
      return STATEMENT_RESULT_BYTES;
    default:
      return SMALL_RESULT_BYTES;
  }
}
