/**
 * The backend's ledger over `level`: account balances, settled payments by reference, seen nonces,
 * offline (payer, counter) claims, flagged duplicates, registered subdomain matrices, the batches
 * of receipts sealed together (one record per group commit) and an append-only journal with
 * sequence numbers.
 *
 * Guarantees: every settlement is one atomic `batch` (debit, credit, payment record, nonce or
 * counter claim, journal entry), and every mutation runs through one in-process queue, so checks and
 * writes never interleave: no double settlement, no overdraft, journal sequence numbers without
 * gaps. Writes use `{ sync: true }` by default, because a receipt handed out must survive a crash.
 * Not guaranteed: the files are plain (the backend is an REE server; anyone with the directory can
 * read and edit it), and only one process may open a ledger (level locks the directory).
 *
 * The ledger is statement-agnostic: callers verify signatures first and pass plain settlement facts.
 */
import { Level } from 'level';
import { TeeError } from '../../common/errors.js';
import { toHex, toBase64url, fromBase64url } from '../../common/bytes.js';
import type { PartyId } from '../../protocol/payment.js';
import { KeyFilter } from './key-filter.js';
import { SerialQueue } from './queue.js';

export type JournalKind = 'open-account' | 'online' | 'offline' | 'duplicate';

export interface JournalEntry {
  seq: number;
  at: number;
  kind: JournalKind;
  /** orderId (online) or txId (offline). */
  reference?: string;
  party?: PartyId;
  payer?: PartyId;
  payee?: PartyId;
  amount?: number;
  currency?: string;
  /** Offline payer counter. */
  counter?: number;
}

export interface SettlementRecord {
  kind: 'online' | 'offline';
  /** orderId (online) or txId (offline); unique per payee. */
  reference: string;
  payer: PartyId;
  payee: PartyId;
  amount: number;
  currency: string;
  seq: number;
  settledAt: number;
  /** Hex SHA-256 of what was settled (the payer's signing bytes), to tell a resubmission from a rival. */
  digest: string;
  /**
   * base64url of the encoded receipt handed out, where it was sealed alone (offline, and online
   * records written before receipts were stored by batch).
   */
  receipt?: string;
  /**
   * Where the receipt handed out sits, for a receipt sealed with its group: the batch record
   * (`receiptBatch(seq)`) and the position in it. With the record's fields that rebuilds it.
   */
  receiptBatch?: { seq: number; index: number };
  /** Hex payer nonce (online): a receipt repeats it. */
  nonce?: string;
  counter?: number;
}

/** An offline payment that collided with an earlier one: a double spend, recorded and not settled. */
export interface DuplicateRecord {
  seq: number;
  detectedAt: number;
  reason: 'counter' | 'txId';
  digest: string;
  payer: PartyId;
  payee: PartyId;
  reference: string;
  counter: number;
  amount: number;
  currency: string;
  /** The settlement it collided with. */
  conflictsWith: { reference: string; seq: number; digest: string };
}

export interface OnlineSettlement {
  payer: PartyId;
  payee: PartyId;
  amount: number;
  currency: string;
  orderId: string;
  nonce: Uint8Array;
  digest: string;
  at: number;
}

export interface OfflineSettlement {
  payer: PartyId;
  payee: PartyId;
  amount: number;
  currency: string;
  txId: string;
  counter: number;
  digest: string;
  at: number;
}

/** Builds and signs the receipt once the ledger has fixed the sequence number; returns its bytes. */
export type ReceiptIssuer = (settled: { seq: number; settledAt: number }) => Uint8Array;
/**
 * A receipt sealed with its group (one signature per batch): adds the settlement to the batch being
 * collected and returns its position there. The ledger stores the position with the record.
 */
export type BatchedReceiptIssuer = (settled: { seq: number; settledAt: number }) => number;
/** Seals the receipts a BatchedReceiptIssuer collected, once per group. */
export interface GroupSealer {
  /**
   * Called once per group as it closes: seals everything its issuer was asked for since the last
   * `seal` or `drop` (staging is synchronous with `issue`, so exactly this group's settlements) and
   * resolves to the batch's record (JSON), which the ledger writes in the group's atomic batch under
   * the first sequence number sealed in it: a batch is stored once, not in every record. A rejection
   * fails the group: nothing of it is written.
   */
  seal(): Promise<unknown>;
  /** The group is dropped unwritten (a group before it failed): forget what was collected for it. */
  drop(): void;
}

export type OfflineOutcome =
  | { status: 'settled'; record: SettlementRecord }
  | { status: 'already-reconciled'; record: SettlementRecord }
  | { status: 'duplicate'; duplicate: DuplicateRecord };

export interface LedgerOptions {
  /** fsync every write (default true). Benchmarks may turn it off to measure the pipeline itself. */
  sync?: boolean;
}

type Balances = Record<string, number>;
interface AccountValue {
  party: PartyId;
  balances: Balances;
}
interface CounterClaim {
  reference: string;
  digest: string;
}

type Op = { type: 'put'; key: string; value: unknown };

// Key prefixes. Ids match [A-Za-z0-9._:-], so '/' separates fields without ambiguity.
const P = { account: 'a!', payment: 'p!', nonce: 'n!', counter: 'c!', duplicate: 'd!', journal: 'j!', subdomain: 's!', batch: 'b!' } as const;
const END = '\uffff';
/** Keys whose existence a settlement checks (nonces, payment references): they go into the ledger's filter. */
const CLAIM_PREFIXES = [P.nonce, P.payment] as const;
const isClaim = (key: string): boolean => key.startsWith(P.nonce) || key.startsWith(P.payment);
const SEQ_DIGITS = 16;
/** Accounts whose committed value the ledger keeps in memory, at most. */
const MAX_CACHED_ACCOUNTS = 65_536;

const partyKey = (p: PartyId): string => `${p.subdomainId}/${p.userId}`;
const seqKey = (seq: number): string => P.journal + String(seq).padStart(SEQ_DIGITS, '0');
const batchKey = (seq: number): string => P.batch + String(seq).padStart(SEQ_DIGITS, '0');
const samePartyAs = (a: PartyId, b: PartyId): boolean => a.subdomainId === b.subdomainId && a.userId === b.userId;

function ledgerError(code: 'ACCESS_DENIED' | 'ACCESS_CONFLICT' | 'ITEM_NOT_FOUND' | 'SECURITY' | 'OVERFLOW' | 'BAD_PARAMETERS' | 'BUSY', message: string): TeeError {
  return new TeeError(code, message, 'BACKEND');
}

/** Online settlements staged for the next group commit: one batch, one fsync, settled together. */
interface Group {
  /**
   * The group's writes by key, last write wins: settlements of one group that touch the same account
   * leave one put of its final value (each was computed from the one before through the overlay).
   */
  writes: Map<string, unknown>;
  /** Called when the group closes, each with the first sequence number it sealed (its batch's key). */
  sealers: Map<GroupSealer, number>;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Ledger {
  private readonly queue = new SerialQueue();
  private closed = false;
  /**
   * Group commit for online settlements: each is checked in the queue against the database plus the
   * writes of settlements staged before it (`overlay`), then staged; the queue moves on while the
   * staged group is written in one atomic batch with one fsync. A settlement's promise resolves only
   * once its group is durable. If a batch fails, that group and every group staged after it (their
   * checks saw its writes) fail, the overlay is dropped and the sequence number rewinds: all or
   * nothing per settlement, never double-settled. Every other mutation first waits for the groups.
   */
  private group: Group | null = null;
  private flushing: Promise<void> | null = null;
  private readonly overlay = new Map<string, unknown>();
  /**
   * Committed account values by key, so settlements do not read and decode both accounts from the
   * database each time. Filled on first read and after every write; never ahead of the disk (the
   * overlay holds what is staged). Values are never changed in place: readers copy them.
   */
  private readonly accounts = new Map<string, AccountValue>();
  private committedSeq: number;
  /**
   * Every nonce and payment-reference key this ledger holds, as a filter (./key-filter.ts): the
   * nonce and order lookups of an online settlement almost always miss, and a "certainly absent"
   * answer saves their database reads. Keys are added before they are written, and the keys already
   * on disk are loaded in the background after open; until that scan has finished (`claimsLoaded`)
   * every lookup reads the database.
   */
  private readonly claims = new KeyFilter();
  private claimsLoaded = false;
  /** Resolves once the filter covers the database (or its scan failed, and lookups keep reading the database). */
  readonly indexed: Promise<void>;

  private constructor(
    private readonly db: Level<string, unknown>,
    private nextSeq: number,
    private readonly sync: boolean,
  ) {
    this.committedSeq = nextSeq;
    this.indexed = this.loadClaims();
  }

  private async loadClaims(): Promise<void> {
    try {
      for (const prefix of CLAIM_PREFIXES) {
        for await (const key of this.db.keys({ gte: prefix, lt: prefix + END })) {
          if (this.closed) return;
          this.claims.add(key);
        }
      }
      this.claimsLoaded = true;
    } catch {
      // The filter stays unused: every lookup reads the database, as it would without it.
    }
  }

  /** Open (or create) the ledger in `dir`. Throws BUSY if another process holds it. */
  static async open(dir: string, options: LedgerOptions = {}): Promise<Ledger> {
    const db = new Level<string, unknown>(dir, { keyEncoding: 'utf8', valueEncoding: 'json' });
    try {
      await db.open();
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === 'LEVEL_LOCKED') throw ledgerError('BUSY', 'ledger: directory is in use by another process');
      throw new TeeError('GENERIC', 'ledger: cannot open the database', 'BACKEND');
    }
    let nextSeq = 1;
    for await (const key of db.keys({ gte: P.journal, lt: P.journal + END, reverse: true, limit: 1 })) {
      nextSeq = Number(key.slice(P.journal.length)) + 1;
    }
    return new Ledger(db, nextSeq, options.sync ?? true);
  }

  /** Finish queued work, then close the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    await this.drain();
    await this.indexed;
    await this.db.close();
  }

  /** The sequence number the next journal entry will get. */
  get sequence(): number {
    return this.nextSeq;
  }

  // ---- accounts -------------------------------------------------------------------------------

  /** Open `party`'s account in `currency` with an opening balance (demo/admin). A second open conflicts. */
  openAccount(party: PartyId, currency: string, balance: number, at = Date.now()): Promise<Balances> {
    return this.exclusive(async () => {
      const account = (await this.getAccount(party)) ?? { party: { ...party }, balances: {} };
      if (account.balances[currency] !== undefined) {
        throw ledgerError('ACCESS_CONFLICT', `account: ${party.userId}@${party.subdomainId} already holds ${currency}`);
      }
      account.balances[currency] = balance;
      const seq = this.nextSeq;
      const entry: JournalEntry = { seq, at, kind: 'open-account', party, amount: balance, currency };
      await this.commit([this.put(P.account + partyKey(party), account), this.put(seqKey(seq), entry)]);
      return { ...account.balances };
    });
  }

  /** Balances by currency, or undefined if the party has no account. */
  async balances(party: PartyId): Promise<Balances | undefined> {
    const account = await this.getAccount(party);
    return account ? { ...account.balances } : undefined;
  }

  /** Sum of all balances per currency; settlement moves money, so this changes only when accounts open. */
  async totals(): Promise<Balances> {
    const totals: Balances = {};
    for await (const value of this.db.values({ gte: P.account, lt: P.account + END })) {
      for (const [currency, amount] of Object.entries((value as AccountValue).balances)) {
        totals[currency] = (totals[currency] ?? 0) + amount;
      }
    }
    return totals;
  }

  // ---- settlement -----------------------------------------------------------------------------

  /**
   * Settle a verified online payment. Rejects a seen nonce (SECURITY 'replayed payment'), an order
   * already paid (ACCESS_CONFLICT), a missing account (ITEM_NOT_FOUND) and insufficient funds
   * (ACCESS_DENIED); on any rejection nothing is written. The receipt is made by `issue` alone, or
   * joins its group's batch, sealed by `seal` (see BatchedReceiptIssuer).
   */
  settleOnline(s: OnlineSettlement, issue: ReceiptIssuer): Promise<SettlementRecord>;
  settleOnline(s: OnlineSettlement, issue: BatchedReceiptIssuer, seal: GroupSealer): Promise<SettlementRecord>;
  settleOnline(s: OnlineSettlement, issue: ReceiptIssuer | BatchedReceiptIssuer, seal?: GroupSealer): Promise<SettlementRecord> {
    if (this.closed) return Promise.reject(ledgerError('BUSY', 'ledger: closed'));
    return this.queue.run(async () => {
      const nonce = toHex(s.nonce);
      const nonceKey = `${P.nonce}${partyKey(s.payer)}/${nonce}`;
      const refKey = `${P.payment}online/${partyKey(s.payee)}/${s.orderId}`;
      if (this.exists(nonceKey)) throw ledgerError('SECURITY', 'replayed payment');
      if (this.exists(refKey)) throw ledgerError('ACCESS_CONFLICT', `order ${s.orderId} is already paid`);
      const [payer, payee] = this.checkTransfer(s, this.accountForUpdate(s.payer), this.accountForUpdate(s.payee));
      const seq = this.nextSeq;
      const issued = issue({ seq, settledAt: s.at });
      const record: SettlementRecord = {
        kind: 'online', reference: s.orderId, payer: s.payer, payee: s.payee, amount: s.amount, currency: s.currency,
        seq, settledAt: s.at, digest: s.digest, nonce,
      };
      if (seal) record.receiptBatch = { seq: this.joinSealer(seal), index: issued as number };
      else record.receipt = toBase64url(issued as Uint8Array);
      const entry: JournalEntry = { seq, at: s.at, kind: 'online', reference: s.orderId, payer: s.payer, payee: s.payee, amount: s.amount, currency: s.currency };
      const durable = this.stage([...this.transfer(payer, payee, s.amount, s.currency), this.put(refKey, record), this.put(nonceKey, seq), this.put(seqKey(seq), entry)]);
      return { record, durable };
    }).then(async ({ record, durable }) => {
      await durable;
      return record;
    });
  }

  /**
   * Reconcile a verified offline payment. The same payment again is idempotent (the first receipt);
   * a different payment reusing the payer's counter or the payee's txId is a double spend: recorded
   * once as a duplicate, never settled.
   */
  reconcileOffline(s: OfflineSettlement, issue: ReceiptIssuer): Promise<OfflineOutcome> {
    return this.exclusive(async (): Promise<OfflineOutcome> => {
      const refKey = `${P.payment}offline/${partyKey(s.payee)}/${s.txId}`;
      const counterKey = `${P.counter}${partyKey(s.payer)}/${s.counter}`;
      const [ref, claimValue, payerAccount, payeeAccount] = await this.db.getMany([
        refKey, counterKey, P.account + partyKey(s.payer), P.account + partyKey(s.payee),
      ]);
      const byRef = ref as SettlementRecord | undefined;
      if (byRef && byRef.digest === s.digest) return { status: 'already-reconciled', record: byRef };
      const claim = claimValue as CounterClaim | undefined;
      const byCounter = claim ? ((await this.db.get(claim.reference)) as SettlementRecord | undefined) : undefined;
      const rival = byCounter ?? byRef;
      if (rival) return { status: 'duplicate', duplicate: await this.flagDuplicate(s, rival, byCounter ? 'counter' : 'txId') };

      const [payer, payee] = this.checkTransfer(s, payerAccount as AccountValue | undefined, payeeAccount as AccountValue | undefined);
      const seq = this.nextSeq;
      const record: SettlementRecord = {
        kind: 'offline', reference: s.txId, payer: s.payer, payee: s.payee, amount: s.amount, currency: s.currency,
        seq, settledAt: s.at, digest: s.digest, receipt: toBase64url(issue({ seq, settledAt: s.at })), counter: s.counter,
      };
      const entry: JournalEntry = {
        seq, at: s.at, kind: 'offline', reference: s.txId, payer: s.payer, payee: s.payee, amount: s.amount, currency: s.currency, counter: s.counter,
      };
      const counterClaim: CounterClaim = { reference: refKey, digest: s.digest };
      await this.commit([...this.transfer(payer, payee, s.amount, s.currency), this.put(refKey, record), this.put(counterKey, counterClaim), this.put(seqKey(seq), entry)]);
      return { status: 'settled', record };
    });
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** A settled payment by payee and reference (orderId or txId). */
  async payment(kind: 'online' | 'offline', payee: PartyId, reference: string): Promise<SettlementRecord | undefined> {
    return (await this.db.get(`${P.payment}${kind}/${partyKey(payee)}/${reference}`)) as SettlementRecord | undefined;
  }

  /** A batch of receipts sealed together (what its GroupSealer resolved to), by the record's `receiptBatch.seq`. */
  async receiptBatch(seq: number): Promise<unknown> {
    return this.db.get(batchKey(seq));
  }

  /** Whether the payer's nonce has been used by a settled online payment. */
  async nonceSeen(payer: PartyId, nonce: Uint8Array): Promise<boolean> {
    return (await this.db.get(`${P.nonce}${partyKey(payer)}/${toHex(nonce)}`)) !== undefined;
  }

  /** Journal entries with seq > `after`, oldest first. */
  async journal(options: { after?: number; limit?: number } = {}): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    const it = this.db.values({ gt: seqKey(options.after ?? 0), lt: P.journal + END, limit: options.limit ?? -1 });
    for await (const value of it) out.push(value as JournalEntry);
    return out;
  }

  /** Every flagged double spend, in detection order. */
  async duplicates(): Promise<DuplicateRecord[]> {
    const out: DuplicateRecord[] = [];
    for await (const value of this.db.values({ gte: P.duplicate, lt: P.duplicate + END })) out.push(value as DuplicateRecord);
    return out.sort((a, b) => a.seq - b.seq);
  }

  // ---- subdomain matrices ---------------------------------------------------------------------

  /** Remember a registered subdomain's encoded public matrix (verified by the caller). */
  putSubdomain(subdomainId: string, encodedMatrix: Uint8Array): Promise<void> {
    return this.exclusive(() => this.commit([this.put(P.subdomain + subdomainId, toBase64url(encodedMatrix))]));
  }

  async subdomains(): Promise<Array<{ subdomainId: string; encodedMatrix: Uint8Array }>> {
    const out: Array<{ subdomainId: string; encodedMatrix: Uint8Array }> = [];
    for await (const [key, value] of this.db.iterator({ gte: P.subdomain, lt: P.subdomain + END })) {
      out.push({ subdomainId: key.slice(P.subdomain.length), encodedMatrix: fromBase64url(value as string) });
    }
    return out;
  }

  // ---- internals ------------------------------------------------------------------------------

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(ledgerError('BUSY', 'ledger: closed'));
    return this.queue.run(async () => {
      await this.drain();
      return task();
    });
  }

  // Reads on the settle path are synchronous and seen through the staged, not yet written,
  // settlements: a staged key's value is newer than anything written. getSync: a small read from
  // LevelDB's cache costs less than one thread-pool round trip, and the queue (which waits for it)
  // moves on without one. All synchronous, so no group can be written or dropped in between.

  /** Whether `key` is staged or written. */
  private exists(key: string): boolean {
    if (this.overlay.has(key)) return true;
    if (this.claimsLoaded && !this.claims.mayContain(key)) return false;
    return this.db.getSync(key) !== undefined;
  }

  /**
   * A party's account as the next settlement must see it, as a copy the caller may change: staged,
   * else the committed value from memory (`accounts`), else read from the database once.
   */
  private accountForUpdate(party: PartyId): AccountValue | undefined {
    const key = P.account + partyKey(party);
    let account = (this.overlay.get(key) as AccountValue | undefined) ?? this.accounts.get(key);
    if (!account) {
      account = this.db.getSync(key) as AccountValue | undefined;
      if (account) this.remember(key, account);
    }
    return account && { party: account.party, balances: { ...account.balances } };
  }

  /** Keep a committed account value; the oldest goes when the cache is full. */
  private remember(key: string, account: AccountValue): void {
    this.accounts.delete(key);
    if (this.accounts.size >= MAX_CACHED_ACCOUNTS) this.accounts.delete(this.accounts.keys().next().value!);
    this.accounts.set(key, account);
  }

  /** After a batch is written: its account values are the committed ones now. */
  private written(writes: Iterable<[string, unknown]>): void {
    for (const [key, value] of writes) if (key.startsWith(P.account)) this.remember(key, value as AccountValue);
  }

  /** Add a settlement's writes to the open group; resolves once the group is written. */
  private stage(ops: Op[]): Promise<void> {
    const g = this.openGroup();
    for (const op of ops) {
      g.writes.set(op.key, op.value);
      this.overlay.set(op.key, op.value);
      if (isClaim(op.key)) this.claims.add(op.key);
    }
    this.nextSeq++;
    this.flushing ??= this.flushGroups();
    return g.promise;
  }

  /** The group being staged, opened if there is none. */
  private openGroup(): Group {
    if (this.group) return this.group;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return (this.group = { writes: new Map(), sealers: new Map(), promise, resolve, reject });
  }

  /**
   * Register `seal` with the open group (the settlement about to be staged is its first there, or
   * a later one): the sequence number its batch is stored under, the first it sealed in this group.
   */
  private joinSealer(seal: GroupSealer): number {
    const sealers = this.openGroup().sealers;
    const seq = sealers.get(seal);
    if (seq !== undefined) return seq;
    sealers.set(seal, this.nextSeq);
    return this.nextSeq;
  }

  private async flushGroups(): Promise<void> {
    // Let the settlements already queued stage into this group before it is written.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.group) {
      const g = this.group;
      this.group = null;
      const seqAfter = this.nextSeq;
      try {
        if (g.sealers.size) {
          // Every sealer is called before the first await: each seals exactly this group's receipts.
          const batches = await Promise.all([...g.sealers].map(async ([sealer, seq]) => [batchKey(seq), await sealer.seal()] as const));
          for (const [key, value] of batches) g.writes.set(key, value);
        }
        await this.writeGroup(g.writes);
      } catch (err) {
        const later = this.group as Group | null;
        this.group = null;
        this.overlay.clear();
        // What a failed batch left on disk is the truth from now on: read the accounts again.
        this.accounts.clear();
        this.nextSeq = this.committedSeq;
        g.reject(err);
        if (later) {
          for (const sealer of later.sealers.keys()) sealer.drop();
          later.reject(err);
        }
        continue;
      }
      this.committedSeq = seqAfter;
      this.written(g.writes);
      for (const [key, value] of g.writes) if (this.overlay.get(key) === value) this.overlay.delete(key);
      g.resolve();
    }
    this.flushing = null;
  }

  /**
   * One atomic batch for a group. A chained batch: level's array form encodes and hands every op to
   * the binding on the calling thread, about three times the main-thread time per op of this.
   */
  private async writeGroup(writes: Map<string, unknown>): Promise<void> {
    const batch = this.db.batch();
    try {
      for (const [key, value] of writes) batch.put(key, value);
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: this.sync });
  }

  /** Wait until every staged settlement is written (or failed). */
  private async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async getAccount(party: PartyId): Promise<AccountValue | undefined> {
    return (await this.db.get(P.account + partyKey(party))) as AccountValue | undefined;
  }

  /** The checks every transfer passes before anything is written; returns both accounts. */
  private checkTransfer(
    t: { payer: PartyId; payee: PartyId; amount: number; currency: string }, payer: AccountValue | undefined, payee: AccountValue | undefined,
  ): [AccountValue, AccountValue] {
    const { amount, currency } = t;
    if (samePartyAs(t.payer, t.payee)) throw ledgerError('BAD_PARAMETERS', 'payer and payee are the same party');
    if (payer?.balances[currency] === undefined) throw ledgerError('ITEM_NOT_FOUND', `payer has no ${currency} account`);
    if (payee?.balances[currency] === undefined) throw ledgerError('ITEM_NOT_FOUND', `payee has no ${currency} account`);
    if (payer.balances[currency]! < amount) throw ledgerError('ACCESS_DENIED', 'insufficient funds');
    if (payee.balances[currency]! + amount > Number.MAX_SAFE_INTEGER) throw ledgerError('OVERFLOW', 'payee balance would overflow');
    return [payer, payee];
  }

  private transfer(payer: AccountValue, payee: AccountValue, amount: number, currency: string): Op[] {
    payer.balances[currency] = payer.balances[currency]! - amount;
    payee.balances[currency] = payee.balances[currency]! + amount;
    return [this.put(P.account + partyKey(payer.party), payer), this.put(P.account + partyKey(payee.party), payee)];
  }

  private async flagDuplicate(s: OfflineSettlement, rival: SettlementRecord, reason: 'counter' | 'txId'): Promise<DuplicateRecord> {
    const key = P.duplicate + s.digest;
    const known = (await this.db.get(key)) as DuplicateRecord | undefined;
    if (known) return known;
    const seq = this.nextSeq;
    const duplicate: DuplicateRecord = {
      seq, detectedAt: s.at, reason, digest: s.digest, payer: s.payer, payee: s.payee, reference: s.txId, counter: s.counter,
      amount: s.amount, currency: s.currency, conflictsWith: { reference: rival.reference, seq: rival.seq, digest: rival.digest },
    };
    const entry: JournalEntry = {
      seq, at: s.at, kind: 'duplicate', reference: s.txId, payer: s.payer, payee: s.payee, amount: s.amount, currency: s.currency, counter: s.counter,
    };
    await this.commit([this.put(key, duplicate), this.put(seqKey(seq), entry)]);
    return duplicate;
  }

  private put(key: string, value: unknown): Op {
    return { type: 'put', key, value };
  }

  /** One atomic batch; the sequence number advances only if it was written and journalled. */
  private async commit(ops: Op[]): Promise<void> {
    for (const op of ops) if (isClaim(op.key)) this.claims.add(op.key);
    await this.db.batch(ops, { sync: this.sync });
    this.written(ops.map((op): [string, unknown] => [op.key, op.value]));
    if (ops.some((op) => op.key.startsWith(P.journal))) this.nextSeq++;
    this.committedSeq = this.nextSeq;
  }
}
