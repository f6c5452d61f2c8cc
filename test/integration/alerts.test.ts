import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { unwrapEvent, wrapEvent } from 'nostr-tools/nip17';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { npubEncode } from 'nostr-tools/nip19';
import type { WorkflowHandle } from '@temporalio/client';
import { verifySignature } from '../../src/activities/alerts/webhookSignature';
import { newId } from '../../src/db/ids';
import { RelayClient } from '../../src/nostr/relayClient';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { sealedColumns } from '../../src/security/secretBox';
import {
  alertPhaseQuery,
  alertWorkflowId,
  evaluateNowUpdate,
  type EvaluationSummary,
} from '../../src/workflows/alerts/definitions';
import { ensureAlertEvaluator } from '../../src/worker/alertEvaluator';
import { startAlertEvaluator, stopAlertEvaluator } from '../helpers/alertEvaluator';
import { startApi, type TestApi } from '../helpers/api';
import { createMachine, createOperator, secretBox, type Machine, type Operator } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { eventually, freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';

/**
 * Alerts on the real stack (docs/alerts.md): PostgreSQL, the Temporal dev server, the
 * embedded relay, a worker with the alert workflows, the API. The evaluator runs with a
 * one-hour interval, so only the test's `evaluateNow` updates evaluate: each is a
 * barrier (it answers after its evaluation, and after the workflows it opened started).
 */

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A webhook receiver on loopback: answers 500 to the first `failFirst` requests, then 200. */
async function startReceiver(
  failFirst: number,
): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = got.length < failFirst ? 500 : 200;
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('alerts: detected by the evaluator workflow, one workflow per open alert, delivered by webhook and Nostr DM', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let relay: RunningRelay;
  let api: TestApi;
  let strictApi: TestApi;
  let worker: { stop: () => Promise<void> };
  let taskQueue: string;
  let evaluator: WorkflowHandle;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let opA: Operator;
  let opB: Operator;
  const recipientSecret = generateSecretKey();
  const recipientPub = getPublicKey(recipientSecret);

  const evaluate = (): Promise<EvaluationSummary> => evaluator.executeUpdate(evaluateNowUpdate);
  const setLastSeen = async (m: Machine, minutesAgo: number) => {
    await db.pool.query(
      `INSERT INTO satmachine.dca_telemetry (machine_id, beacon_received_at) VALUES ($1, now() - make_interval(mins => $2))
       ON CONFLICT (machine_id) DO UPDATE SET beacon_received_at = excluded.beacon_received_at`,
      [m.row.id, minutesAgo],
    );
  };
  const alertsOf = async (key: string) =>
    (
      await db.pool.query<{ id: string; status: string }>(
        `SELECT id, status FROM satmachine.alerts WHERE alert_key = $1 ORDER BY opened_at`,
        [key],
      )
    ).rows;
  const webhookCalls = (alertId: string) =>
    receiver.got.filter((r) => (JSON.parse(r.body) as { alert: { id: string } }).alert.id === alertId);

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort() });
    receiver = await startReceiver(1);
    const w = await testWorker({
      pool: db.pool,
      alerts: { relays: [relay.url], webhookAllowLoopback: true, relayProbeTimeoutMs: 3_000 },
    });
    worker = w.start();
    taskQueue = w.taskQueue;
    api = await startApi({
      pool: db.pool,
      temporal: temporal.client,
      config: { webhookAllowLoopback: true },
    });
    strictApi = await startApi({ pool: db.pool, temporal: temporal.client });
    opA = await createOperator(db.pool, 'operator A');
    opB = await createOperator(db.pool, 'operator B');
    evaluator = await startAlertEvaluator(temporal.client, w.taskQueue);
    // the evaluation the workflow runs when it starts is over once this one answers
    await evaluate();
  });

  afterAll(async () => {
    await stopAlertEvaluator(evaluator);
    await worker?.stop();
    await api?.close();
    await strictApi?.close();
    await receiver?.close();
    await relay?.close();
    await temporal?.close();
    await db?.close();
  });

  let webhookSecret: string;
  let webhookId: string;

  it('operator A sets a threshold, a DM recipient and a webhook (its secret shown once)', async () => {
    const s = await api.call('PATCH', '/api/v1/alerts/settings', opA.apiKey, {
      offline_after_minutes: 5,
      nostr_recipient: npubEncode(recipientPub),
    });
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({
      offline_after_minutes: 5,
      nostr_recipient_pubkey: recipientPub,
      nostr_sender_pubkey: opA.pubkey,
      settlement_alerts: true,
    });
    const h = await api.call('POST', '/api/v1/alerts/webhooks', opA.apiKey, { url: receiver.url });
    expect(h.status).toBe(201);
    expect(h.body.secret).toMatch(/^whsec_/);
    webhookSecret = h.body.secret;
    webhookId = h.body.webhook.id;
    const list = await api.call('GET', '/api/v1/alerts/webhooks', opA.apiKey);
    expect(list.body).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(webhookSecret);
    // sealed at rest, bound to its row
    const { rows } = await db.pool.query<{ secret_enc: string }>(
      'SELECT secret_enc FROM satmachine.alert_webhooks WHERE id = $1',
      [webhookId],
    );
    expect(rows[0]!.secret_enc).not.toContain(webhookSecret);
    expect(secretBox.open(rows[0]!.secret_enc, sealedColumns.alertWebhookSecret(webhookId))).toBe(
      webhookSecret,
    );
  });

  it('a flapping machine opens one alert and resolves it once; the webhook is signed and retried after a 500; the DM decrypts', async () => {
    const machine = await createMachine(db.pool, opA, { name: 'flappy' });
    const key = `machine_offline:${machine.row.id}`;
    await setLastSeen(machine, 60); // offline past the 5-minute threshold
    const first = await evaluate();
    expect(first.opened).toHaveLength(1);
    const alertId = first.opened[0]!;

    await setLastSeen(machine, 0); // back …
    expect((await evaluate()).clearing).toContain(alertId);
    await setLastSeen(machine, 60); // … gone again …
    const third = await evaluate();
    expect(third.opened).toEqual([]);
    expect(third.clearing).not.toContain(alertId);
    await setLastSeen(machine, 0); // … back for good
    expect((await evaluate()).clearing).toContain(alertId);
    await setLastSeen(machine, 0);
    expect((await evaluate()).resolved).toEqual([alertId]);

    // the alert's workflow ends once it delivered the resolve: the barrier for everything below
    await temporal.client.workflow.getHandle(alertWorkflowId(alertId)).result();
    expect(await alertsOf(key)).toEqual([{ id: alertId, status: 'resolved' }]);

    // webhook: the first attempt got a 500, the retry went through; then the resolve, once
    const calls = webhookCalls(alertId);
    expect(calls.map((c) => [c.headers['x-satmachine-event'], c.status])).toEqual([
      ['alert.opened', 500],
      ['alert.opened', 200],
      ['alert.resolved', 200],
    ]);
    const now = Math.floor(Date.now() / 1000);
    for (const c of calls) {
      expect(verifySignature(webhookSecret, c.body, String(c.headers['x-satmachine-signature']), now)).toBe(
        true,
      );
      expect(verifySignature('whsec_wrong', c.body, String(c.headers['x-satmachine-signature']), now)).toBe(
        false,
      );
      expect(
        verifySignature(webhookSecret, `${c.body} `, String(c.headers['x-satmachine-signature']), now),
      ).toBe(false);
    }
    expect(JSON.parse(calls[1]!.body)).toMatchObject({
      type: 'alert.opened',
      delivery_id: `${alertId}:open`,
      alert: { id: alertId, rule: 'machine_offline', subject_id: machine.row.id, status: 'open' },
    });
    expect(JSON.parse(calls[2]!.body)).toMatchObject({
      type: 'alert.resolved',
      alert: { status: 'resolved' },
    });

    // the delivery log of the endpoint: every attempt
    const log = await api.call('GET', `/api/v1/alerts/webhooks/${webhookId}/deliveries`, opA.apiKey);
    expect(log.status).toBe(200);
    const mine = (
      log.body as { alert_id: string; event: string; outcome: string; http_status: number; attempt: number }[]
    )
      .filter((d) => d.alert_id === alertId)
      .map((d) => [d.event, d.attempt, d.outcome, d.http_status])
      .sort();
    expect(mine).toEqual([
      ['open', 1, 'failed', 500],
      ['open', 2, 'delivered', 200],
      ['resolve', 1, 'delivered', 200],
    ]);

    // Nostr: two gift wraps to the recipient on the relay, each a kind-14 from operator A's key
    const sub = new RelayClient(relay.url, { logger: testLogger }).start();
    try {
      await sub.waitConnected(5_000);
      const wraps = (await sub.query([{ kinds: [1059], '#p': [recipientPub] }], 5_000)) as any[];
      const rumors = wraps
        .map((w) => unwrapEvent(w, recipientSecret))
        .filter((r) => r.content.includes(alertId))
        .sort((a, b) => (a.content.includes('RESOLVED') ? 1 : 0) - (b.content.includes('RESOLVED') ? 1 : 0));
      expect(rumors).toHaveLength(2);
      for (const r of rumors) {
        expect(r.kind).toBe(14);
        expect(r.pubkey).toBe(opA.pubkey);
        expect(r.tags).toContainEqual(['p', recipientPub]);
      }
      expect(rumors[0]!.content).toContain('[satmachine] OPEN critical: Machine flappy is offline');
      expect(rumors[1]!.content).toContain('[satmachine] RESOLVED');
      // the wrap hides the sender: signed by a throwaway key
      expect(wraps.every((w) => w.pubkey !== opA.pubkey)).toBe(true);
    } finally {
      sub.close();
    }

    // the API lists it with its history
    const one = await api.call('GET', `/api/v1/alerts/${alertId}`, opA.apiKey);
    expect(one.body).toMatchObject({ id: alertId, status: 'resolved', rule: 'machine_offline' });
    expect(one.body.workflow_url).toContain(`/workflows/alert-${alertId}`);
    expect(one.body.deliveries.filter((d: any) => d.outcome === 'delivered')).toHaveLength(4); // 2 webhook, 2 nostr
  });

  it('an errored settlement opens an alert delivered once (more evaluations add nothing), resolved when it is settled', async () => {
    const machine = await createMachine(db.pool, opA, { name: 'errs' });
    const settlementId = newId();
    const hash = randomBytes(32).toString('hex');
    await db.pool.query(
      `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fee_sats, principal_sats,
              status, error_message)
       VALUES ($1, $2, $3, 'cash_out', 21000, 1000, 20000, 'errored', 'leg dca failed: no route')`,
      [settlementId, machine.row.id, hash],
    );
    const opened = await evaluate();
    const key = `settlement_errored:${settlementId}`;
    const [alert] = await alertsOf(key);
    expect(opened.opened).toEqual([alert!.id]);
    const handle = temporal.client.workflow.getHandle(alertWorkflowId(alert!.id));
    await eventually(async () => (await handle.query(alertPhaseQuery)) === 'open', 60_000, 'open delivered');
    expect((await evaluate()).opened).toEqual([]);
    expect((await evaluate()).opened).toEqual([]);
    expect(await alertsOf(key)).toHaveLength(1);
    expect(webhookCalls(alert!.id).map((c) => [c.headers['x-satmachine-event'], c.status])).toEqual([
      ['alert.opened', 200],
    ]);
    expect(JSON.parse(webhookCalls(alert!.id)[0]!.body).alert).toMatchObject({
      rule: 'settlement_errored',
      severity: 'critical',
      details: { payment_hash: hash, error_message: 'leg dca failed: no route' },
    });

    await db.pool.query(`UPDATE satmachine.dca_settlements SET status = 'processed' WHERE id = $1`, [
      settlementId,
    ]);
    await evaluate();
    expect((await evaluate()).resolved).toEqual([alert!.id]);
    await handle.result();
    expect(webhookCalls(alert!.id).map((c) => c.headers['x-satmachine-event'])).toEqual([
      'alert.opened',
      'alert.resolved',
    ]);
  });

  it("another operator's alert and webhook are 404; its list holds none of them", async () => {
    const [anyAlert] = (
      await db.pool.query<{ id: string }>(
        `SELECT id FROM satmachine.alerts WHERE operator_user_id = $1 LIMIT 1`,
        [opA.id],
      )
    ).rows;
    expect((await api.call('GET', `/api/v1/alerts/${anyAlert!.id}`, opB.apiKey)).status).toBe(404);
    expect((await api.call('GET', `/api/v1/alerts/${anyAlert!.id}`, opA.apiKey)).status).toBe(200);
    expect(
      (await api.call('GET', `/api/v1/alerts/webhooks/${webhookId}/deliveries`, opB.apiKey)).status,
    ).toBe(404);
    expect(
      (await api.call('PATCH', `/api/v1/alerts/webhooks/${webhookId}`, opB.apiKey, { enabled: false }))
        .status,
    ).toBe(404);
    expect((await api.call('DELETE', `/api/v1/alerts/webhooks/${webhookId}`, opB.apiKey)).status).toBe(404);
    const listB = await api.call('GET', '/api/v1/alerts', opB.apiKey);
    expect(listB.status).toBe(200);
    expect(listB.body.items).toEqual([]);
    const listA = await api.call('GET', '/api/v1/alerts?limit=1', opA.apiKey);
    expect(listA.body.items).toHaveLength(1);
    expect(listA.body.next_cursor).toEqual(expect.any(String));
    const next = await api.call('GET', `/api/v1/alerts?limit=1&cursor=${listA.body.next_cursor}`, opA.apiKey);
    expect(next.body.items).toHaveLength(1);
    expect(next.body.items[0].id).not.toBe(listA.body.items[0].id);
    // an LP cannot list alerts
    expect((await api.call('GET', '/api/v1/alerts', undefined)).status).toBe(401);
  });

  it('webhook URLs are refused on private, loopback and metadata addresses; a stored one is refused at delivery, not retried', async () => {
    for (const url of [
      receiver.url, // loopback: only with WEBHOOK_ALLOW_LOOPBACK
      'http://localhost:8080/x',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.7/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[fd00::1]/hook',
      'ftp://hooks.example.com/x',
      'https://user:pw@hooks.example.com/x',
    ]) {
      const r = await strictApi.call('POST', '/api/v1/alerts/webhooks', opB.apiKey, { url });
      expect({ url, status: r.status }).toEqual({ url, status: 422 });
      expect(r.body.error.details[0].field).toBe('body.url');
    }
    expect((await strictApi.call('GET', '/api/v1/alerts/webhooks', opB.apiKey)).body).toEqual([]);

    // a URL that became private after it was stored (DNS changed, or written around the API)
    const hookId = newId();
    await db.pool.query(
      `INSERT INTO satmachine.alert_webhooks (id, operator_user_id, url, secret_enc) VALUES ($1, $2, 'http://10.0.0.7/hook', $3)`,
      [hookId, opB.id, secretBox.seal('whsec_b', sealedColumns.alertWebhookSecret(hookId))],
    );
    const machine = await createMachine(db.pool, opB, { name: 'b-offline' });
    await db.pool.query(
      `UPDATE satmachine.dca_machines SET created_at = now() - interval '2 hours' WHERE id = $1`,
      [machine.row.id],
    ); // never seen, past the default 15 minutes
    const { opened } = await evaluate();
    const [alert] = await alertsOf(`machine_offline:${machine.row.id}`);
    expect(opened).toContain(alert!.id);
    const handle = temporal.client.workflow.getHandle(alertWorkflowId(alert!.id));
    await eventually(async () => (await handle.query(alertPhaseQuery)) === 'open', 60_000, 'open attempted');
    const log = await api.call('GET', `/api/v1/alerts/webhooks/${hookId}/deliveries`, opB.apiKey);
    expect(log.body.map((d: any) => [d.attempt, d.outcome])).toEqual([[1, 'refused']]);
    expect(log.body[0].error).toContain('private address');
  });

  it('the worker start-up starts the evaluator once: a second start keeps the running one', async () => {
    const workflowId = `alert-evaluator-${randomBytes(5).toString('hex')}`;
    const first = await ensureAlertEvaluator(temporal.client, {
      taskQueue,
      intervalMs: 3_600_000,
      workflowId,
    });
    const second = await ensureAlertEvaluator(temporal.client, {
      taskQueue,
      intervalMs: 3_600_000,
      workflowId,
    });
    expect(second).toBe(first);
    const handle = temporal.client.workflow.getHandle(workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate('test over');
  });

  it('the relay takes gift wraps only to alert recipients (their author is a throwaway key)', async () => {
    const stranger = getPublicKey(generateSecretKey());
    const toStranger = wrapEvent(generateSecretKey(), { publicKey: stranger }, 'spam');
    const toRecipient = wrapEvent(generateSecretKey(), { publicKey: recipientPub }, 'hello');
    const c = new RelayClient(relay.url, { logger: testLogger }).start();
    try {
      await c.waitConnected(5_000);
      expect(await c.publish(toStranger)).toMatchObject({
        accepted: false,
        message: 'blocked: this relay accepts gift wraps only to the alert recipients of its operators',
      });
      expect(await c.publish(toRecipient)).toMatchObject({ accepted: true });
    } finally {
      c.close();
    }
  });
});
