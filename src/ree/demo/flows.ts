/**
 * The two payment flows, end to end between the demo world's phones: QR codes go from one phone's
 * screen (PNG) to the other's camera, the wallets drive their trusted keys, the backend settles.
 * Each step also reports, in the REE lane, the channel ciphertext the REE carried for it.
 */
import { shortHex } from '../../common/trace.js';
import type { Phone } from '../../device/index.js';
import type { SealedReceipt } from '../backend/receipts.js';
import { scanQr, showQr, type AcceptedOffline, type OfflineSyncResult } from '../wallet/index.js';
import { DEMO_CURRENCY, type DemoWorld } from './world.js';

export interface OnlineFlowInput {
  amount: number;
  currency?: string;
  orderId?: string;
}

export interface OfflineFlowInput {
  amount: number;
  currency?: string;
  txId?: string;
}

export interface OnlineFlowResult {
  orderId: string;
  qrText: string;
  qrPngBytes: number;
  receipt: SealedReceipt;
}

export interface OfflineFlowResult {
  txId: string;
  offerQrText: string;
  paymentQrText: string;
  accepted: AcceptedOffline;
  payeeSync: OfflineSyncResult[];
  payerSync: OfflineSyncResult[];
}

/** Run `fn` and report the TEE OS <-> trusted key frames the REE carried meanwhile (ciphertext only). */
async function carrying<T>(world: DemoWorld, phone: Phone, fn: () => Promise<T>): Promise<T> {
  const before = phone.interceptor.frameLog.recorded;
  try {
    return await fn();
  } finally {
    const frames = phone.interceptor.frameLog.since(before);
    if (frames.length > 0) {
      const bytes = frames.reduce((n, f) => n + f.frame.length, 0);
      world.trace({
        lane: 'REE', actor: `link:${phone.name}`,
        text: `carried ${frames.length} encrypted channel frames (${bytes} B) between TEE OS and trusted key`,
        detail: { firstFrame: shortHex(frames[0]!.frame) },
      });
    }
  }
}

/** Render on one phone, read back from the pixels on the other. */
async function handOver(world: DemoWorld, text: string, from: string, to: string): Promise<{ text: string; pngBytes: number }> {
  const png = await showQr(text);
  const scanned = scanQr(png);
  world.trace({ lane: 'REE', actor: 'camera', text: `${to} scanned ${from}'s screen`, detail: { pngBytes: png.length, qrChars: scanned.length } });
  return { text: scanned, pngBytes: png.length };
}

export async function runOnlinePayment(world: DemoWorld, input: OnlineFlowInput): Promise<OnlineFlowResult> {
  const { payer, payee } = world.wallets;
  const { qrText, request } = payee.requestPayment({
    amount: input.amount, currency: input.currency ?? DEMO_CURRENCY, ...(input.orderId ? { orderId: input.orderId } : {}),
  });
  const scanned = await handOver(world, qrText, payee.party.userId, payer.party.userId);
  const signed = await carrying(world, world.phones.payer, () => payer.signOnline(scanned.text));
  const { receipt } = await payer.submitOnline(signed);
  // Verified: the backend checked the payer's signature, the payer's wallet the receipt's.
  world.stats.onlinePayments++;
  world.stats.signaturesVerified += 2;
  return { orderId: request.orderId, qrText, qrPngBytes: scanned.pngBytes, receipt };
}

export async function runOfflinePayment(world: DemoWorld, input: OfflineFlowInput): Promise<OfflineFlowResult> {
  const { payer, payee } = world.wallets;
  const offer = await carrying(world, world.phones.payee, () =>
    payee.offerOffline({ amount: input.amount, currency: input.currency ?? DEMO_CURRENCY, ...(input.txId ? { txId: input.txId } : {}) }),
  );
  const offerScan = await handOver(world, offer.qrText, payee.party.userId, payer.party.userId);
  const paid = await carrying(world, world.phones.payer, () => payer.payOffline(offerScan.text));
  const paymentScan = await handOver(world, paid.qrText, payer.party.userId, payee.party.userId);
  const accepted = await carrying(world, world.phones.payee, () => payee.acceptOffline(paymentScan.text));
  // Back online: both sides send what they hold; the second is told it was already reconciled.
  const payeeSync = await payee.syncOffline();
  const payerSync = await payer.syncOffline();
  world.stats.offlinePayments++;
  // Payer's key checked the offer, payee's key the payment, the backend both, the wallets each receipt.
  world.stats.signaturesVerified += 4 + [...payeeSync, ...payerSync].filter((r) => r.receipt).length;
  return { txId: offer.txId, offerQrText: offer.qrText, paymentQrText: paid.qrText, accepted, payeeSync, payerSync };
}
