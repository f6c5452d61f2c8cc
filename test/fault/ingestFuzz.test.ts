import fc from 'fast-check';
import WebSocket from 'ws';
import { bytesToHex, hexToBytes } from 'nostr-tools/utils';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { D_BEACON, KIND_APP_DATA, KIND_SETTLEMENT, type SignedEvent } from '../../src/contract';
import { type HandleOutcome, type RunningIngest } from '../../src/ingest/ingestService';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { createSettlementStream } from '../../src/ingest/settlementStream';
import { registry } from '../../src/metrics/registry';
import { buildSettlementEvent, encryptFor, signEvent } from '../../src/nostr/codec';
import { fetchRelayMaxLimit, RelayClient } from '../../src/nostr/relayClient';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  splitAllToNewWallet,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { startFakeRelay, type FakeRelay } from '../helpers/fakeRelay';
import { freePort } from '../helpers/ports';
import { awaitStatus } from '../helpers/settle';
import { eventually, testLogger } from '../helpers/stack';
import { connectPublisher, startTestIngest, startTestStack, type TestStack } from '../helpers/testStack';
import { persist, seededRng } from './faultKit';

/** How many generated cases of each family (fixed: the test is bounded in time). */
const CONTENT_CASES = 150;
const ENVELOPE_CASES = 80;
const RANDOM_EVENTS = 40;

interface FuzzCase {
  label: string;
  /** what goes on the wire: usually an event, sometimes not even that */
  event: unknown;
}

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const flipHex = (s: string, at: number) => {
  const i = at % s.length;
  return s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);
};

/** Values that are never a valid whole number of sats. */
const notSats = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, 1e300, 2 ** 64),
  fc.constantFrom('NaN', 'Infinity', '1e999', '100', '', ' ', '0x10', '١٢٣'),
  fc.constantFrom(null, true, [], {}),
);
/** Values that are never a decimal the protocol accepts. */
const notDecimal = fc.constantFrom(
  'NaN',
  'Infinity',
  '-Infinity',
  '1e5',
  'abc',
  '',
  ' ',
  '0x1A',
  '1,5',
  '+1',
  '١٢٣',
  null,
  true,
  {},
  [],
);

/** A bad value for each field of the content: every one of them makes the content invalid. */
const badField: Record<string, fc.Arbitrary<unknown>> = {
  v: fc.oneof(
    fc.integer().filter((n) => n !== 1),
    fc.constantFrom('1', null, 1.5, true),
  ),
  txid: fc.oneof(
    fc.constant(''),
    fc.string({ minLength: 129, maxLength: 400 }),
    fc.integer(),
    fc.constant(null),
  ),
  tx_type: fc.oneof(
    fc.string().filter((s) => s !== 'cash_out' && s !== 'cash_in'),
    fc.constantFrom('CASH_OUT', 'cash-out', null, 1),
  ),
  payment_hash: fc.oneof(
    hex(64).map((h) => h.toUpperCase().replace(/^[0-9]/, 'A')),
    hex(63),
    hex(65),
    fc.constant('g'.repeat(64)),
    fc.string({ maxLength: 80 }),
    fc.constantFrom(null, 42, ['0'.repeat(64)]),
  ),
  wire_sats: fc.oneof(notSats, fc.constant(0)),
  fee_sats: notSats,
  fiat_amount: fc.oneof(notDecimal, fc.constantFrom('12.345', '-5.00', -0.01, 1.001, '1'.repeat(30))),
  exchange_rate: fc.oneof(
    notDecimal,
    fc.constantFrom('0', '-1', 0, -5, '1.123456789', '1' + '0'.repeat(20), 1e300),
  ),
  fiat_code: fc.constantFrom('usd', 'US', 'USDT', 'U$D', '', 840, null),
  bills: fc.constantFrom(
    'bills',
    {},
    Array.from({ length: 101 }, () => ({ denomination: 1, count: 1 })),
    [{ denomination: 0, count: 1 }],
    [{ denomination: 20, count: -1 }],
    [{ denomination: '20', count: 1 }],
    [{ denomination: 1.5, count: 1 }],
    [{ denomination: 2 ** 31, count: 1 }],
    [null],
  ),
  cassettes: fc.constantFrom(
    'cassettes',
    { '0': { denomination: 20, count: 1 } },
    { '1000': { denomination: 20, count: 1 } },
    { abc: { denomination: 20, count: 1 } },
    { '01': { denomination: 20, count: 1 } },
    { '1': { denomination: 0, count: 1 } },
    { '1': { denomination: 20, count: 2 ** 31 } },
    { '1': null },
  ),
};
const REQUIRED = [
  'v',
  'txid',
  'tx_type',
  'payment_hash',
  'wire_sats',
  'fiat_amount',
  'fiat_code',
  'exchange_rate',
  'fee_sats',
];

/** Harmless noise layered on an invalid content: unknown fields, a prototype key, odd unicode. */
const noise = fc.option(
  fc.record({
    extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), {
      maxKeys: 3,
    }),
    proto: fc.boolean(),
  }),
  { nil: null },
);

/** The content of a settlement event, mutated so that it is invalid; returns the plaintext to encrypt. */
function contentMutation(): fc.Arbitrary<{
  label: string;
  plaintext: (base: Record<string, unknown>) => string;
}> {
  const field = fc.tuple(fc.constantFrom(...Object.keys(badField)), noise).chain(([name, n]) =>
    badField[name]!.map((value) => ({
      label: `field ${name} = ${JSON.stringify(value)?.slice(0, 40)}`,
      plaintext: (base: Record<string, unknown>) => {
        const c: Record<string, unknown> = { ...base, ...(n?.extra ?? {}), [name]: value };
        const json = JSON.stringify(c);
        // a literal "__proto__" key, as a hostile machine would write it
        return n?.proto ? json.replace(/^\{/, '{"__proto__":{"polluted":true},') : json;
      },
    })),
  );
  const missing = fc.constantFrom(...REQUIRED).map((name) => ({
    label: `missing ${name}`,
    plaintext: (base: Record<string, unknown>) => {
      const c = { ...base };
      delete c[name];
      return JSON.stringify(c);
    },
  }));
  const feeOverWire = fc.integer({ min: 1, max: 1e9 }).map((k) => ({
    label: `fee_sats = wire_sats + ${k}`,
    plaintext: (base: Record<string, unknown>) =>
      JSON.stringify({ ...base, fee_sats: (base.wire_sats as number) + k }),
  }));
  const notJson = fc
    .oneof(
      fc.string({ minLength: 1, maxLength: 200 }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      }),
      fc.constantFrom(
        ' ',
        '{',
        '{"v":1,',
        "{'v': 1}",
        '{"v":1}}',
        '\uFEFF{"v":1}',
        'NaN',
        '['.repeat(20_000),
        '\ud800\udfff\ud800',
      ),
    )
    .map((text) => ({ label: `not JSON: ${JSON.stringify(text.slice(0, 30))}`, plaintext: () => text }));
  const otherJson = fc.jsonValue({ maxDepth: 4 }).map((v) => ({
    label: `other JSON: ${JSON.stringify(v)?.slice(0, 40)}`,
    plaintext: () => JSON.stringify(v),
  }));
  const deep = fc.integer({ min: 100, max: 5_000 }).map((depth) => ({
    label: `bills nested ${depth} deep`,
    plaintext: (base: Record<string, unknown>) =>
      JSON.stringify({ ...base, bills: null }).replace(
        '"bills":null',
        `"bills":${'['.repeat(depth)}${']'.repeat(depth)}`,
      ),
  }));
  return fc.oneof(
    { arbitrary: field, weight: 6 },
    { arbitrary: missing, weight: 2 },
    { arbitrary: feeOverWire, weight: 1 },
    { arbitrary: notJson, weight: 2 },
    { arbitrary: otherJson, weight: 1 },
    { arbitrary: deep, weight: 1 },
  );
}

const sorted = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort());

/** Count of dropped events by reason, from the process's Prometheus registry. */
async function droppedByReason(): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('satmachine_ingest_dropped_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

/**
 * Bad input to the ingest: random and mutated kind-21000 events, through a real relay
 * to a running ingest and straight into the settlement stream's handler. Nothing
 * invalid starts a workflow or writes a settlement, every rejection says why, and
 * the ingest keeps serving.
 */
describe('fuzz: bad kind-21000 events never start a settlement and never stop the ingest', () => {
  const rng = seededRng('ingestFuzz');
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let relay: RunningRelay;
  let ingest: RunningIngest;
  let publisher: RelayClient;
  let operator: Operator;
  let machine: Machine;
  const settled: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    relay = await stack.startRelay();
    await createSuper(db.pool);
    operator = await createOperator(db.pool);
    await createOperator(db.pool, 'another operator');
    await splitAllToNewWallet(db.pool, operator);
    machine = await createMachine(db.pool, operator);
    await createLp(db.pool, machine, { name: 'lp', depositCents: 10_000_000 });
    ingest = await stack.startIngest([relay.url]);
    publisher = await stack.connectPublisher(relay.url);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const content = (hash = newPaymentHash()) =>
    settlementContent({ paymentHash: hash, wireSats: 21_000, feeSats: 1_000, fiat: '20.00' }) as Record<
      string,
      unknown
    >;
  const signed = (plaintext: string, o: { signer?: string; to?: string; encryptTo?: string } = {}) => {
    const signer = o.signer ?? machine.secretHex;
    return signEvent(signer, {
      kind: KIND_SETTLEMENT,
      tags: [['p', o.to ?? operator.pubkey]],
      content: encryptFor(signer, o.encryptTo ?? operator.pubkey, plaintext),
    });
  };

  /** A valid event, then settled: the ingest still serves. */
  async function settleOne(): Promise<void> {
    const hash = newPaymentHash();
    const ok = await publisher.publish(
      buildSettlementEvent(machine.secretHex, operator.pubkey, content(hash)),
    );
    expect(ok).toMatchObject({ accepted: true });
    await ledgerFor(db.pool).recordLightningPayment({
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: 21_000,
      direction: 'incoming',
    });
    await awaitStatus(db.pool, hash, ['processed'], 60_000);
    settled.push(hash);
  }

  function buildCases(): FuzzCase[] {
    const stranger = bytesToHex(generateSecretKey());
    const otherOperator = getPublicKey(generateSecretKey());
    const cases: FuzzCase[] = [];

    for (const m of fc.sample(contentMutation(), { seed: rng.seed, numRuns: CONTENT_CASES })) {
      cases.push({ label: `content: ${m.label}`, event: signed(m.plaintext(content())) });
    }
    // a string PostgreSQL cannot store (NUL) in the one free-text field
    cases.push({
      label: 'content: txid with a NUL character',
      event: signed(JSON.stringify({ ...content(), txid: 'tx\u0000id' })),
    });

    const envelope = fc.tuple(
      fc.constantFrom(
        'id',
        'sig',
        'pubkey',
        'content bytes',
        'content bytes, re-signed',
        'tags, re-signed',
        'kind, re-signed',
        'stranger signs',
        'operator signs',
        'encrypted to another key',
        'encrypted by another key',
        'plaintext content',
        'huge content',
        'wrong types',
        'extra fields',
      ),
      fc.nat(),
      fc.constantFrom<string[][]>([], [['p']], [['p', otherOperator]], [['e', '0'.repeat(64)]], [['P', '']]),
      fc.constantFrom(1, 21001, 20000, 65535),
      fc.constantFrom<[string, unknown]>(
        ['id', 123],
        ['tags', 'p'],
        ['tags', [[1, 2]]],
        ['content', { v: 1 }],
        ['sig', null],
        ['created_at', '1700000000'],
        ['created_at', 1.5],
        ['kind', '21000'],
        ['pubkey', 'npub1' + 'q'.repeat(58)],
      ),
    );
    for (const [what, n, tags, kind, wrong] of fc.sample(envelope, {
      seed: rng.seed + 1,
      numRuns: ENVELOPE_CASES,
    })) {
      const base = buildSettlementEvent(machine.secretHex, operator.pubkey, content());
      const resign = (t: Partial<SignedEvent>) =>
        signEvent(machine.secretHex, { kind: base.kind, tags: base.tags, content: base.content, ...t });
      let event: unknown;
      switch (what) {
        case 'id':
          event = { ...base, id: flipHex(base.id, n) };
          break;
        case 'sig':
          event = { ...base, sig: n % 2 ? flipHex(base.sig, n) : base.sig.slice(0, 64 + (n % 64)) };
          break;
        case 'pubkey':
          event = { ...base, pubkey: getPublicKey(generateSecretKey()) };
          break;
        case 'content bytes':
          event = { ...base, content: flipHex(base.content, n) };
          break;
        case 'content bytes, re-signed': {
          const i = n % base.content.length;
          event = resign({
            content:
              base.content.slice(0, i) + (base.content[i] === 'A' ? 'B' : 'A') + base.content.slice(i + 1),
          });
          break;
        }
        case 'tags, re-signed':
          event = resign({ tags });
          break;
        case 'kind, re-signed':
          event = resign({ kind });
          break;
        case 'stranger signs':
          event = signed(JSON.stringify(content()), { signer: stranger });
          break;
        case 'operator signs':
          event = signed(JSON.stringify(content()), { signer: operator.secretHex });
          break;
        case 'encrypted to another key':
          event = signed(JSON.stringify(content()), { encryptTo: otherOperator });
          break;
        case 'encrypted by another key':
          event = resign({ content: encryptFor(stranger, operator.pubkey, JSON.stringify(content())) });
          break;
        case 'plaintext content':
          event = resign({ content: JSON.stringify(content()) });
          break;
        case 'huge content':
          event = resign({ content: 'A'.repeat(300_000 + (n % 1000)) });
          break;
        case 'wrong types':
          event = { ...base, [wrong[0]]: wrong[1] };
          break;
        case 'extra fields':
          event = {
            ...base,
            sig: flipHex(base.sig, n),
            extra: { deep: [[[n]]] },
            ['__proto__']: { polluted: true }, // an own key, sent as JSON
          };
          break;
      }
      cases.push({ label: `envelope: ${what}`, event });
    }

    const randomEvent = fc.record({
      id: fc.oneof(hex(64), fc.string()),
      pubkey: fc.oneof(hex(64), fc.constant(machine.pubkey), fc.string()),
      created_at: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: -(2 ** 31), max: -1 })),
      kind: fc.constant(KIND_SETTLEMENT),
      tags: fc.oneof(
        fc.constant([['p', operator.pubkey]]),
        fc.array(fc.array(fc.string({ maxLength: 70 }), { maxLength: 3 }), { maxLength: 4 }),
      ),
      content: fc.string({ maxLength: 500, unit: 'binary' }),
      sig: fc.oneof(hex(128), fc.string()),
    });
    for (const e of fc.sample(randomEvent, { seed: rng.seed + 2, numRuns: RANDOM_EVENTS }))
      cases.push({ label: 'random event', event: e });
    // the very same event again: the relay answers "duplicate:" and the ingest drops it once
    cases.push({ label: 'a copy of the first case (same id)', event: cases[0]!.event });
    return cases;
  }

  it('the stream handler drops every case with a reason; through the relay nothing settles and the ingest serves on', async () => {
    await settleOne();
    const cases = buildCases();
    const stream = createSettlementStream({
      keys: ingest.keys,
      signals: new SettlementSignals(temporal.client, taskQueue),
      logger: testLogger,
    });

    // 1. straight into the handler: a drop with a reason and a detail, never a throw or a signal
    const outcomes: HandleOutcome[] = [];
    const wrong: string[] = [];
    for (const c of cases) {
      let o: HandleOutcome;
      try {
        o = await stream.handle(c.event as SignedEvent, 'fuzz');
      } catch (err) {
        o = { kind: 'drop', reason: 'THREW', detail: (err as Error).message };
      }
      outcomes.push(o);
      if (o.kind !== 'drop' || !o.reason || o.reason === 'THREW' || !o.detail?.trim())
        wrong.push(`${c.label}: ${JSON.stringify(o)}`);
    }
    expect(wrong).toEqual([]);

    // 2. through the relay to the running ingest: the relay refuses (with a message) or the ingest drops
    const before = await droppedByReason();
    const expected: Record<string, number> = {};
    const raw = new WebSocket(relay.url);
    await new Promise((r) => raw.once('open', r));
    /** the relay's next message (every EVENT gets an OK; junk gets a NOTICE or CLOSED) */
    const answer = () =>
      new Promise<unknown[]>((resolve) => {
        const timer = setTimeout(() => {
          raw.off('message', onMessage);
          resolve(['NO ANSWER']);
        }, 5000);
        const onMessage = (d: WebSocket.RawData) => {
          clearTimeout(timer);
          resolve(JSON.parse((d as Buffer).toString('utf8')) as unknown[]);
        };
        raw.once('message', onMessage);
      });
    const refusedSilently: string[] = [];
    const deliveredIds = new Set<string>();
    for (const [i, c] of cases.entries()) {
      const reply = answer();
      raw.send(JSON.stringify(['EVENT', c.event]));
      const [verb, , accepted, message] = await reply;
      if (verb !== 'OK' || (accepted !== true && !(typeof message === 'string' && message.length > 0)))
        refusedSilently.push(`${c.label}: ${JSON.stringify([verb, accepted, message])}`);
      const e = c.event as SignedEvent;
      const deliverable =
        accepted === true &&
        e.kind === KIND_SETTLEMENT &&
        e.tags.some((t) => t[0] === 'p' && ingest.keys.operators.has(t[1] ?? ''));
      const o = outcomes[i]!;
      // two cases can be the very same event (e.g. two "huge content" cases of one second and
      // length): the relay answers the second "duplicate:" and the ingest sees it once
      const firstCopy = typeof e.id !== 'string' || !deliveredIds.has(e.id);
      if (deliverable && typeof e.id === 'string') deliveredIds.add(e.id);
      if (deliverable && firstCopy && o.kind === 'drop') expected[o.reason] = (expected[o.reason] ?? 0) + 1;
    }
    // garbage that is not even an EVENT: the relay answers and keeps the connection
    for (const junk of [
      'not json',
      '{}',
      '[]',
      '[1]',
      '["EVENT"]',
      '["REQ"]',
      '["REQ","x",{"kinds":"a"}]',
      '["REQ","x",{"#p":"x"}]',
      '["REQ","x",{"limit":-1}]',
      '["NOPE"]',
      `["REQ","${'x'.repeat(100)}",{}]`,
    ]) {
      const reply = answer();
      raw.send(junk);
      const [verb] = await reply;
      if (!['NOTICE', 'CLOSED', 'OK'].includes(verb as string)) refusedSilently.push(`${junk}: ${verb}`);
    }
    raw.close();
    expect(refusedSilently).toEqual([]);
    expect(Object.values(expected).reduce((a, b) => a + b, 0)).toBeGreaterThan(CONTENT_CASES / 2);

    // the ingest keeps serving: a valid event afterwards settles
    await settleOne();
    await ingest.idle();
    const growth = async () => {
      const now = await droppedByReason();
      return Object.fromEntries(
        Object.keys(now)
          .map((k) => [k, now[k]! - (before[k] ?? 0)] as const)
          .filter(([, v]) => v !== 0),
      );
    };
    const grew = await eventually(
      async () =>
        JSON.stringify(sorted(await growth())) === JSON.stringify(sorted(expected)) ? growth() : null,
      15_000,
      `satmachine_ingest_dropped_total to grow by ${JSON.stringify(expected)}`,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; it grew by ${JSON.stringify(await growth())}`);
    });
    expect(grew).toEqual(expected);
    process.stderr.write(
      `[ingestFuzz] ${cases.length} cases; through the relay, the ingest dropped ${JSON.stringify(expected)}\n`,
    );

    // 3. nothing was written, no workflow was started: only the two valid settlements exist
    const { rows } = await db.pool.query<{ payment_hash: string }>(
      'SELECT payment_hash FROM satmachine.dca_settlements',
    );
    expect(rows.map((r) => r.payment_hash).sort()).toEqual([...settled].sort());
    const listed = async () => {
      const ids: string[] = [];
      for await (const w of temporal.client.workflow.list({ query: `TaskQueue = "${taskQueue}"` }))
        ids.push(w.workflowId);
      return ids.sort();
    };
    const mine = settled.map((h) => `settlement-${h}`).sort();
    // visibility follows a little behind: wait for the valid ones to show, then compare
    await eventually(
      async () => (await listed()).length >= mine.length,
      10_000,
      'the valid settlements listed',
    );
    expect(await listed()).toEqual(mine);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 180_000);
});

/** Value of one labelled series of a counter in the process's registry (0 when absent). */
async function counter(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)!.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
}
const droppedCount = (reason: string) => counter('satmachine_ingest_dropped_total', { reason });
const growsBy = async (what: string, read: () => Promise<number>, before: number, by: number) =>
  eventually(async () => (await read()) - before === by, 60_000, `${what} to grow by ${by}`).catch(
    async (err: Error) => {
      throw new Error(`${err.message}; it grew by ${(await read()) - before}`);
    },
  );

/**
 * The catch-up point and the de-duplication against hostile senders and relays:
 * far-future and strangers' events never move a cursor; more events of one second
 * than a relay returns for one filter are all caught up; a bad copy sent first
 * never suppresses the genuine event; a full job queue pauses the relays and loses
 * nothing.
 */
describe('fuzz: ingest cursors, catch-up paging and de-duplication against hostile relays', () => {
  const YEAR_2100 = 4_102_444_800;
  let stack: TestStack;
  let db: TestStack['db'];
  let relay: RunningRelay;
  let publisher: RelayClient;
  let operator: Operator;
  let fleet: Machine[];
  const running: RunningIngest[] = [];
  const fakes: FakeRelay[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db } = stack);
    relay = await stack.startRelay();
    operator = await createSuperAndOperator(db.pool);
    fleet = [];
    for (let i = 0; i < 12; i++) fleet.push(await createMachine(db.pool, operator, { name: `atm ${i}` }));
    await createLp(db.pool, fleet[0]!, { name: 'lp', depositCents: 10_000_000 });
    publisher = await connectPublisher(relay.url);
  });
  afterAll(async () => {
    publisher?.close();
    for (const i of running) await i.stop();
    for (const f of fakes) await f.close();
    await stack?.stop();
  });

  const ingestOn = async (relays: string[], o: { concurrency?: number; maxQueue?: number } = {}) => {
    const i = await startTestIngest(stack, relays, { keyRefreshMs: 500, ...o });
    running.push(i);
    return i;
  };
  const stopIngest = async (i: RunningIngest) => {
    const at = running.indexOf(i);
    if (at >= 0) running.splice(at, 1);
    await i.stop();
  };
  // a failed test leaves no ingest behind to count events in the next one
  afterEach(async () => {
    for (const i of running.splice(0)) await i.stop();
  });
  /** publishes until the relay accepts (a loaded box may answer late) */
  const publishOk = (client: RelayClient, e: SignedEvent) =>
    persist(`publishing ${e.id.slice(0, 8)}`, async () => {
      const r = await client.publish(e);
      if (!r.accepted) throw new Error(`relay refused: ${r.message}`);
    });
  const cursorOf = async (url: string) =>
    (
      await db.pool.query<{ last_created_at: number }>(
        `SELECT last_created_at FROM satmachine.ingest_cursors WHERE relay_url = $1 AND stream = 'settlements'`,
        [url],
      )
    ).rows[0]?.last_created_at ?? null;
  const now = () => Math.floor(Date.now() / 1000);
  /** a genuine settlement event of machine 0 and its payment */
  const genuine = (createdAt?: number) => {
    const hash = newPaymentHash();
    const event = buildSettlementEvent(
      fleet[0]!.secretHex,
      operator.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 21_000, feeSats: 1_000, fiat: '20.00' }),
      createdAt,
    );
    const pay = () =>
      ledgerFor(db.pool).recordLightningPayment({
        wallet_id: fleet[0]!.walletId,
        payment_hash: hash,
        amount_sats: 21_000,
        direction: 'incoming',
      });
    return { hash, event, pay };
  };
  /** signed by `secretHex`, p-tagged to the operator, content that is not NIP-44 */
  const garbage = (secretHex: string, createdAt: number, n: number) =>
    signEvent(secretHex, {
      kind: KIND_SETTLEMENT,
      tags: [['p', operator.pubkey]],
      content: `garbage ${n} ${Math.random()}`,
      created_at: createdAt,
    });

  it('a year-2100 event (any key, garbage content) and a stranger’s near-future event never move the cursor; the former is counted as future', async () => {
    // our relay refuses events dated more than 10 minutes ahead; a hostile (or lax) relay
    // forwards them, and the ingest must defend itself: they come through a relay we control
    const lax = await startFakeRelay({ maxLimit: 500 });
    fakes.push(lax);
    const ingest = await ingestOn([relay.url, lax.url]);
    await eventually(async () => lax.queries > 0, 30_000, 'the live subscription on the lax relay');
    const stranger = bytesToHex(generateSecretKey());
    const before = { future: await droppedCount('future'), stranger: await droppedCount('unknown_pubkey') };
    for (const e of [
      garbage(stranger, YEAR_2100, 1),
      garbage(fleet[1]!.secretHex, YEAR_2100, 2),
      // within the 10-minute rule, but a stranger's: dropped, and it must not move the cursor either
      garbage(stranger, now() + 300, 3),
    ]) {
      lax.broadcast(e);
    }
    await growsBy('future drops', () => droppedCount('future'), before.future, 2);
    await growsBy('unknown_pubkey drops', () => droppedCount('unknown_pubkey'), before.stranger, 1);
    // a genuine event moves it: it is the newest that may
    // (dated 2 minutes back: had anything later moved the cursor, it would stand at this clock)
    const g = genuine(now() - 120);
    await publishOk(publisher, g.event);
    await g.pay();
    await awaitStatus(db.pool, g.hash, ['processed'], 60_000);
    await ingest.idle();
    await stopIngest(ingest); // flushes the cursor
    expect(await cursorOf(relay.url)).toBe(g.event.created_at);
    expect(await cursorOf(lax.url)).toBeNull();
  }, 120_000);

  it('a cursor an older version let a year-2100 event set is ignored: the outage is caught up and the cursor repaired', async () => {
    await db.pool.query(
      `UPDATE satmachine.ingest_cursors SET last_created_at = $2 WHERE relay_url = $1 AND stream = 'settlements'`,
      [relay.url, YEAR_2100],
    );
    const g = genuine(now() - 3600); // sent an hour ago, during the outage
    await publishOk(publisher, g.event);
    await g.pay();
    const ingest = await ingestOn([relay.url]);
    await awaitStatus(db.pool, g.hash, ['processed'], 60_000);
    await ingest.idle();
    await stopIngest(ingest);
    expect(await cursorOf(relay.url)).toBeLessThanOrEqual(now());
  }, 120_000);

  it('a bad copy (same id) sent first by one relay does not suppress the genuine event from another', async () => {
    const evil = await startFakeRelay({ maxLimit: 500 });
    fakes.push(evil);
    const ingest = await ingestOn([evil.url, relay.url]);
    await eventually(async () => {
      // both relays have the live subscription (the evil one answered a REQ)
      return evil.queries > 0;
    });
    const g = genuine();
    const e = g.event;
    const stranger = bytesToHex(generateSecretKey());
    const copies: unknown[] = [
      { ...e, sig: flipHex(e.sig, 7) },
      { ...e, content: garbage(fleet[0]!.secretHex, e.created_at, 0).content },
      { ...e, created_at: YEAR_2100 },
      { ...e, pubkey: getPublicKey(hexToBytes(stranger)) },
      { ...garbage(stranger, e.created_at, 1), id: e.id },
    ];
    const before = await droppedCount('bad_signature');
    for (const c of copies) evil.broadcast(c);
    await growsBy('bad_signature drops', () => droppedCount('bad_signature'), before, copies.length);
    // the same bad copy again is counted once; a new one after it shows it was seen
    evil.broadcast(copies[0]);
    evil.broadcast({ ...e, sig: flipHex(e.sig, 9) });
    await growsBy('bad_signature drops', () => droppedCount('bad_signature'), before, copies.length + 1);
    // the genuine event, from the honest relay, settles
    await publishOk(publisher, e);
    await g.pay();
    await awaitStatus(db.pool, g.hash, ['processed'], 60_000);
    await ingest.idle();
    await stopIngest(ingest);
  }, 120_000);

  it('a full job queue pauses the relays (counted) and every event is still handled', async () => {
    // the day-ahead beacon comes through a lax relay (ours refuses it, see relay.test.ts)
    const lax = await startFakeRelay({ maxLimit: 500 });
    fakes.push(lax);
    const ingest = await ingestOn([relay.url, lax.url], { concurrency: 1, maxQueue: 3 });
    await eventually(async () => lax.queries > 0, 30_000, 'the live subscription on the lax relay');
    const machine = fleet[2]!;
    const beacon = (name: string, createdAt: number) =>
      signEvent(machine.secretHex, {
        kind: KIND_APP_DATA,
        tags: [['d', D_BEACON]],
        content: JSON.stringify({ name }),
        created_at: createdAt,
      });
    const applied = async () =>
      (
        await db.pool.query<{ beacon_name: string | null }>(
          'SELECT beacon_name FROM satmachine.dca_telemetry WHERE machine_id = $1',
          [machine.row.id],
        )
      ).rows[0]?.beacon_name ?? null;
    const t0 = now() - 200;
    // a beacon dated a day ahead is dropped, so it never wins the newest-first rule (another
    // machine's: the relay itself keeps it as the newest and would refuse our later beacons)
    const future = await droppedCount('future');
    const ahead = signEvent(fleet[3]!.secretHex, {
      kind: KIND_APP_DATA,
      tags: [['d', D_BEACON]],
      content: JSON.stringify({ name: 'from the future' }),
      created_at: now() + 86_400,
    });
    lax.broadcast(ahead);
    await growsBy('future drops', () => droppedCount('future'), future, 1);

    const before = {
      paused: await counter('satmachine_ingest_backpressure_total', { source: 'live' }),
      ok: await counter('satmachine_ingest_events_total', { kind: String(KIND_APP_DATA), outcome: 'ok' }),
    };
    // hold every beacon write: the first job waits, the others queue up
    const lock = await db.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE satmachine.dca_telemetry IN SHARE ROW EXCLUSIVE MODE');
      for (let i = 0; i < 20; i++) await publishOk(publisher, beacon(`b${i}`, t0 + i));
      await eventually(
        async () =>
          (await counter('satmachine_ingest_backpressure_total', { source: 'live' })) > before.paused,
        60_000,
        'the relays paused for a full queue',
      );
      await lock.query('COMMIT');
    } finally {
      lock.release();
    }
    await publishOk(publisher, beacon('last', t0 + 100));
    await eventually(async () => (await applied()) === 'last', 60_000, 'the last beacon applied');
    await growsBy(
      'beacons handled',
      () => counter('satmachine_ingest_events_total', { kind: String(KIND_APP_DATA), outcome: 'ok' }),
      before.ok,
      21,
    );
    const { rows } = await db.pool.query(
      'SELECT beacon_name FROM satmachine.dca_telemetry WHERE machine_id = $1',
      [fleet[3]!.row.id],
    );
    expect(rows).toEqual([]);
    await stopIngest(ingest);
  }, 120_000);

  /** 1,050 events of one second from the fleet (3 genuine settlements among them) and 300 from strangers */
  const oneSecondCrowd = (second: number) => {
    const strangers = Array.from({ length: 5 }, () => bytesToHex(generateSecretKey()));
    const junk = Array.from({ length: 1_047 }, (_, k) =>
      garbage(fleet[k % fleet.length]!.secretHex, second, k),
    );
    const real = [genuine(second), genuine(second), genuine(second)];
    const foreign = Array.from({ length: 300 }, (_, k) => garbage(strangers[k % 5]!, second, k));
    return { junk, real, foreign, all: [...foreign, ...junk, ...real.map((g) => g.event)] };
  };
  const expectCaughtUp = async (crowd: ReturnType<typeof oneSecondCrowd>, before: number) => {
    await growsBy('invalid_content drops', () => droppedCount('invalid_content'), before, crowd.junk.length);
    for (const g of crowd.real) await awaitStatus(db.pool, g.hash, ['processed'], 120_000);
  };

  it('more events of one second than our relay returns per filter (RELAY_MAX_LIMIT 100, open write policy) are all caught up after an outage, with back-pressure', async () => {
    const capped = await startRelay({
      pool: db.pool,
      logger: testLogger,
      port: await freePort(),
      limits: { maxLimit: 100 },
      // strangers' events must reach the relay: this test is about the ingest, not the relay's policy
      writePolicy: 'open',
    });
    try {
      // a cursor from before the outage
      let ingest = await ingestOn([capped.url]);
      const first = genuine();
      const pub = new RelayClient(capped.url, { logger: testLogger }).start();
      await pub.waitConnected();
      await publishOk(pub, first.event);
      await first.pay();
      await awaitStatus(db.pool, first.hash, ['processed'], 60_000);
      await ingest.idle();
      await stopIngest(ingest);
      expect(await cursorOf(capped.url)).not.toBeNull();

      const crowd = oneSecondCrowd(now() - 30);
      for (let i = 0; i < crowd.all.length; i += 50)
        await Promise.all(crowd.all.slice(i, i + 50).map((e) => publishOk(pub, e)));
      pub.close();
      for (const g of crowd.real) await g.pay();
      const before = {
        invalid: await droppedCount('invalid_content'),
        stranger: await droppedCount('unknown_pubkey'),
        waited: await counter('satmachine_ingest_backpressure_total', { source: 'catch_up' }),
      };
      ingest = await ingestOn([capped.url], { concurrency: 4, maxQueue: 50 });
      await expectCaughtUp(crowd, before.invalid);
      await ingest.idle();
      expect(await counter('satmachine_ingest_backpressure_total', { source: 'catch_up' })).toBeGreaterThan(
        before.waited,
      );
      // the catch-up asks for active machines' events only: strangers cannot crowd a page
      expect(await droppedCount('unknown_pubkey')).toBe(before.stranger);
      await stopIngest(ingest);
    } finally {
      await capped.close();
    }
  }, 600_000);

  it('the same through a relay that announces NIP-11 max_limit 100', async () => {
    const fake = await startFakeRelay({ maxLimit: 100 });
    fakes.push(fake);
    const silent = await startFakeRelay({ maxLimit: 100, announce: false });
    fakes.push(silent);
    expect(await fetchRelayMaxLimit(fake.url)).toBe(100);
    expect(await fetchRelayMaxLimit(silent.url)).toBeNull();
    const crowd = oneSecondCrowd(now() - 30);
    for (const e of crowd.all) fake.store(e);
    for (const g of crowd.real) await g.pay();
    const before = await droppedCount('invalid_content');
    const ingest = await ingestOn([fake.url], { concurrency: 8, maxQueue: 200 });
    await expectCaughtUp(crowd, before);
    await ingest.idle();
    await stopIngest(ingest);
  }, 300_000);
});
