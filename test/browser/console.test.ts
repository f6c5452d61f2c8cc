import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { chromiumPath, heading, nav, signInToConsole } from '../helpers/consolePage';
import { D_TELEMETRY, KIND_TELEMETRY } from '../../src/contract';
import { createUserWithKey } from '../../src/api/userAccounts';
import { buildConsole, consoleBuildNeeded } from '../../src/cli/consoleBuild';
import { runSimulation } from '../../src/cli/simulate';
import { newId } from '../../src/db/ids';
import { insertWallet } from '../../src/db/ledger';
import { insertLpPreferences } from '../../src/db/lp';
import { startIngest, type RunningIngest } from '../../src/ingest/ingestService';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { encryptFor, signEvent } from '../../src/nostr/codec';
import { RelayClient } from '../../src/nostr/relayClient';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { startApi, type TestApi } from '../helpers/api';
import { endHold, HOLD_GATE_SECONDS, startHoldGateWorker } from '../helpers/holdGateWorker';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  secretBox,
  setDefaultSplits,
  type Lp,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { awaitSettled, awaitStatus, legsOf, sendSettlement, settlementByHash } from '../helpers/settle';
import { eventually, freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';

// page.evaluate callbacks run in the page; this file is compiled without the DOM lib
declare const window: any;
declare const document: any;
declare function getComputedStyle(el: unknown): { outlineStyle: string; outlineWidth: string };

const ROOT = join(__dirname, '..', '..');
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');

/**
 * The web console in a real browser against the real stack: a fresh database, an
 * in-process Temporal worker, a Nostr relay, the ingest, and the API serving the
 * built console. Screenshots of every page go to test-artifacts/screenshots/.
 */
describe('web console (chromium)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { stop: () => Promise<void> };
  let taskQueue: string;
  let relay: RunningRelay;
  let ingest: RunningIngest;
  let api: TestApi;
  let publisher: RelayClient;
  let context: BrowserContext;
  let userDataDir: string;

  let platform: Awaited<ReturnType<typeof createSuper>>;
  let operator: Operator;
  let other: Operator;
  let lobby: Machine;
  let hold: Machine;
  let gated: Awaited<ReturnType<typeof startHoldGateWorker>> | undefined;
  let retryMachine: Machine;
  let foreign: Machine;
  let alice: Lp;
  let late: Lp;
  let retriedId: string;
  let carol: { id: string; apiKey: string };

  const secrets: string[] = [];
  const requestUrls: string[] = [];
  const consoleLines: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const started = Date.now();
    const executablePath = chromiumPath();
    if (consoleBuildNeeded()) await buildConsole({ info: () => undefined, error: () => undefined });
    mkdirSync(SHOTS, { recursive: true });

    db = await freshDatabase();
    temporal = await temporalClient();
    const w = await testWorker({ pool: db.pool });
    taskQueue = w.taskQueue;
    worker = w.start();
    // the hold-window test: the hold ends when the test says so (never races the clicks)
    gated = await startHoldGateWorker(db.pool);
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort() });
    api = await startApi({ pool: db.pool, temporal: temporal.client, taskQueue, relays: [relay.url] });

    platform = await createSuper(db.pool);
    operator = await createOperator(db.pool, 'Ana Operator');
    other = await createOperator(db.pool, 'Other Operator');
    await setDefaultSplits(db.pool, operator, [
      { target: (await insertWallet(db.pool, operator.id, 'revenue')).id, fraction: '1', label: 'revenue' },
    ]);
    lobby = await createMachine(db.pool, operator, { name: 'Lobby ATM' });
    hold = await createMachine(db.pool, operator, { name: 'Hold ATM', delaySeconds: HOLD_GATE_SECONDS });
    retryMachine = await createMachine(db.pool, operator, { name: 'Retry ATM' });
    foreign = await createMachine(db.pool, other, { name: 'Not yours' });
    alice = await createLp(db.pool, lobby, { name: 'alice', depositCents: 100_000 });
    late = await createLp(db.pool, retryMachine, { name: 'late', depositCents: 50_000 });
    await createLp(db.pool, hold, { name: 'held', depositCents: 1_000_000 });
    // a leg of this LP fails: its payout wallet does not exist (yet)
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'walletlater0001' WHERE user_id = $1`, [
      late.userId,
    ]);
    // an LP that has not onboarded (no payout wallet yet)
    const c = await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'carol' });
    carol = { id: c.user.id, apiKey: c.api_key };
    secrets.push(platform.apiKey, operator.apiKey, other.apiKey, alice.apiKey, carol.apiKey);

    ingest = await startIngest({
      pool: db.pool,
      client: temporal.client,
      relays: [relay.url],
      taskQueue,
      secretBox,
      payments: ledgerFor(db.pool),
      logger: testLogger,
      keyRefreshMs: 500,
    });
    publisher = new RelayClient(relay.url, { logger: testLogger }).start();
    await publisher.waitConnected();

    userDataDir = mkdtempSync(join(process.env.SATMACHINE_TEST_DIR ?? tmpdir(), 'chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context.setDefaultTimeout(20_000);
    context.on('request', (r) => requestUrls.push(r.url()));
    context.on('page', (p) => {
      p.on('console', (m) => consoleLines.push(m.text()));
      p.on('pageerror', (e) => pageErrors.push(e.message));
    });
    process.stderr.write(`[browser] stack and chromium ready in ${Date.now() - started} ms\n`);
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    publisher?.close();
    await ingest?.stop();
    await api?.close();
    await relay?.close();
    await gated?.stop();
    await worker?.stop();
    await temporal?.close();
    await db?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  // ---- helpers ---------------------------------------------------------------------------
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  /** A new tab: its sessionStorage is its own, so each tab is its own session. */
  const newTab = () => context.newPage();

  const signIn = (page: Page, key: string, landing: string | RegExp) =>
    signInToConsole(page, api.url, key, landing);

  const machineCard = (page: Page, name: string): Locator =>
    page.getByRole('listitem').filter({ has: page.getByRole('heading', { name }) });

  async function fieldError(page: Page, label: string): Promise<string> {
    const input = page.getByLabel(label, { exact: true });
    await page.waitForFunction(
      (el) => el?.getAttribute('aria-invalid') === 'true',
      await input.elementHandle(),
    );
    const ids = (await input.getAttribute('aria-describedby'))!.split(' ');
    return (await page.locator(`[id="${ids[0]}"]`).textContent()) ?? '';
  }

  // ---- the tests -------------------------------------------------------------------------
  it('is served by the API process at /, behind the paths the API owns', async () => {
    const index = await fetch(`${api.url}/worklist`, { headers: { accept: 'text/html' } });
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<div id="root"></div>');
    expect((await api.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await api.call('GET', '/api/v1/openapi.json')).body.openapi).toBe('3.1.0');
    expect((await api.call('GET', '/metrics')).text).toContain('# HELP');
    const unknown = await fetch(`${api.url}/api/v1/nothing-here`, { headers: { accept: 'text/html' } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('refuses a wrong key and keeps nothing of it', async () => {
    const page = await newTab();
    await page.goto(`${api.url}/fleet`);
    await heading(page, 'satmachine console').waitFor();
    expect(new URL(page.url()).pathname).toBe('/signin');
    await page.getByLabel('API key').fill('not-a-real-key-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await fieldError(page, 'API key')).toContain('This API key is not valid');
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect(await page.evaluate(() => window.sessionStorage.getItem('satmachine.apiKey'))).toBeNull();
    await shot(page, 'signin-refused');
    await page.close();
  });

  it('an operator signs in and sees a simulated ATM settlement flow into the fleet', async () => {
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    // the key is in this tab's sessionStorage only: not in the URL, localStorage or a cookie
    expect(page.url()).not.toContain(operator.apiKey);
    expect(await page.evaluate(() => window.sessionStorage.getItem('satmachine.apiKey'))).toBe(
      operator.apiKey,
    );
    expect(await page.evaluate(() => window.localStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);
    // role-aware navigation
    const links = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    expect(links).toEqual([
      'Fleet',
      'Worklist',
      'LPs & deposits',
      'Commission splits',
      'Cassettes',
      'Reports',
      'Alerts',
    ]);

    const card = machineCard(page, 'Lobby ATM');
    await card.getByTestId('today-count').filter({ hasText: /^0/ }).waitFor();
    expect(await card.textContent()).toContain('offline');

    // the machine beacons (online, cash available), then a customer cashes out 50.00 USD
    await publisher.publish(
      signEvent(lobby.secretHex, {
        kind: 30078,
        tags: [['d', 'bitspire-beacon']],
        content: JSON.stringify({
          cash_in: true,
          cash_out: true,
          cash_level: 'high',
          version: '2.4.1',
          model: 'BATM4 Lobby',
          limits: { cash_out: { min: 20, max: 500 }, daily: 2000 },
          fees: { cash_in: 0.03, cash_out: 0.04 },
          denominations: [20, 50],
        }),
      }),
    );
    await publisher.publish(
      signEvent(lobby.secretHex, {
        kind: KIND_TELEMETRY,
        tags: [
          ['d', D_TELEMETRY],
          ['p', operator.pubkey],
        ],
        content: encryptFor(
          lobby.secretHex,
          operator.pubkey,
          JSON.stringify({ temperature_c: 41, printer: { paper: 'low' }, uptime_s: 86400 }),
        ),
      }),
    );
    const sim = await runSimulation({
      apiUrl: api.url,
      apiKey: platform.apiKey,
      relays: [relay.url],
      machineSecretHex: lobby.secretHex,
      operatorPubkeyHex: operator.pubkey,
      machineWalletId: lobby.walletId,
      count: 1,
      rate: 10,
      txType: 'cash_out',
      fiatCode: 'USD',
      fiatCents: [5000, 5000],
      satsPerUnit: 1000,
      feeFraction: 0.05,
      order: 'together',
      logger: testLogger,
    });
    expect(sim.errors).toEqual([]);
    // the ingest starts the workflow from the relay's event: wait for the row to settle
    await awaitStatus(db.pool, sim.settlements[0]!.payment_hash, ['processed']);

    await card.getByTestId('today-count').filter({ hasText: /^1/ }).waitFor();
    expect(await card.getByTestId('today-volume').textContent()).toContain('50.00 USD');
    expect(await card.textContent()).toMatch(/online[\s\S]*Cash-inavailable[\s\S]*Cash levelhigh/);
    await shot(page, 'operator-fleet');

    // the machine page lists it, with what the machine reports: its beacon and its fleet telemetry
    await card.getByRole('link', { name: 'Settlements' }).click();
    await heading(page, 'Lobby ATM').waitFor();
    await page.locator('tbody').getByText('Settled').waitFor();
    const beacon = page.getByRole('region', { name: 'Beacon' });
    await beacon.getByText('BATM4 Lobby').waitFor();
    expect(await beacon.textContent()).toMatch(/Received .*ago/);
    expect(await beacon.getByRole('definition').allTextContents()).toEqual(
      expect.arrayContaining(['BATM4 Lobby', '2.4.1', '20, 50']),
    );
    expect(await beacon.textContent()).toMatch(/Limitscash outmin20max500daily2000/);
    const telemetry = page.getByRole('region', { name: 'Fleet telemetry' });
    await telemetry.getByText('temperature c').waitFor();
    expect(await telemetry.textContent()).toMatch(
      /Received .*ago.*temperature c41printerpaperlowuptime s86400/,
    );
    await shot(page, 'operator-machine');
    await page.close();
  });

  it('a new operator registers a machine from the fleet, edits it, and deactivates and reactivates it', async () => {
    const newcomer = await createOperator(db.pool, 'New Operator');
    secrets.push(newcomer.apiKey);
    const page = await newTab();
    await signIn(page, newcomer.apiKey, 'Fleet');
    // no machines: the form is there at once
    await page.getByText('No machines yet.').waitFor();
    const form = page.getByRole('region', { name: 'Register a machine' });
    await form.getByLabel('Name', { exact: true }).fill('Harbour ATM');
    await form.getByLabel('Machine public key').fill('npub1notakey');
    await form.getByLabel('Fiat currency').fill('eur');
    expect(await form.getByLabel('Fiat currency').inputValue()).toBe('EUR');
    await form.getByLabel('Location (optional)').fill('Harbour front, pier 3');
    await form.getByLabel('Your cash-in fee (fraction)').fill('0.5x');
    await form.getByLabel('Your cash-out fee (fraction)').fill('0.03');
    await form.getByLabel('Hold before paying (seconds)').fill('60');
    await form.getByRole('button', { name: 'Register machine' }).click();
    // the API's messages by their fields, the field name said once, and a sentence under the form
    expect(await fieldError(page, 'Machine public key')).toContain(
      'is neither a 64-hex public key nor an npub',
    );
    const feeError = await fieldError(page, 'Your cash-in fee (fraction)');
    expect(feeError).toContain('must be a decimal number');
    expect(feeError).not.toMatch(/fraction fraction/);
    expect(await form.getByRole('alert').textContent()).toBe(
      'Some fields need a change: see the messages next to them.',
    );
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-invalid'))).toBe('true');
    await shot(page, 'operator-register-machine-invalid');

    const pub = getPublicKey(generateSecretKey());
    await form.getByLabel('Machine public key').fill(pub);
    await form.getByLabel('Your cash-in fee (fraction)').fill('0.02');
    await form.getByRole('button', { name: 'Register machine' }).click();
    await form.getByRole('status').filter({ hasText: 'Registered Harbour ATM' }).waitFor();
    await machineCard(page, 'Harbour ATM').waitFor();
    const registered = (await api.call('GET', '/api/v1/machines', newcomer.apiKey)).body;
    expect(registered).toEqual([
      expect.objectContaining({
        name: 'Harbour ATM',
        machine_pubkey_hex: pub,
        fiat_code: 'EUR',
        location: 'Harbour front, pier 3',
        operator_cash_in_fee_fraction: '0.020000',
        operator_cash_out_fee_fraction: '0.030000',
        distribution_delay_seconds: 60,
        is_active: true,
        wallet_id: expect.stringMatching(/./),
      }),
    ]);
    await shot(page, 'operator-register-machine');

    // the same key again: refused, by the key's field
    await form.getByLabel('Name', { exact: true }).fill('Twin ATM');
    await form.getByLabel('Machine public key').fill(pub);
    await form.getByLabel('Fiat currency').fill('EUR');
    await form.getByRole('button', { name: 'Register machine' }).click();
    expect(await fieldError(page, 'Machine public key')).toContain('already registered');
    expect(await form.getByRole('status').count()).toBe(0);

    // its page: edit the settings
    await machineCard(page, 'Harbour ATM').getByRole('link', { name: 'Harbour ATM' }).click();
    await heading(page, 'Harbour ATM').waitFor();
    const settings = page.getByRole('region', { name: 'Settings' });
    await settings.getByRole('button', { name: 'Edit settings' }).click();
    await settings.getByLabel('Name', { exact: true }).fill('Harbour ATM 2');
    await settings.getByLabel('Hold before paying (seconds)').fill('999999');
    await settings.getByRole('button', { name: 'Save changes' }).click();
    expect(await fieldError(page, 'Hold before paying (seconds)')).toContain('604,800');
    await settings.getByLabel('Hold before paying (seconds)').fill('120');
    await settings.getByLabel('Your cash-out fee (fraction)').fill('0.045');
    await settings.getByLabel('Location (optional)').fill('');
    await settings.getByRole('button', { name: 'Save changes' }).click();
    await settings.getByRole('status').filter({ hasText: 'Saved Harbour ATM 2.' }).waitFor();
    await heading(page, 'Harbour ATM 2').waitFor();
    const machineId = registered[0].id as string;
    expect((await api.call('GET', `/api/v1/machines/${machineId}`, newcomer.apiKey)).body).toMatchObject({
      name: 'Harbour ATM 2',
      location: null,
      distribution_delay_seconds: 120,
      operator_cash_out_fee_fraction: '0.045000',
    });
    await shot(page, 'operator-machine-edited');

    // deactivate: the dialog says what it means; then reactivate
    await settings.getByRole('button', { name: 'Deactivate…' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toMatch(/stops listening to its key[\s\S]*no longer attributed to it/);
    await shot(page, 'operator-machine-deactivate-dialog');
    await dialog.getByRole('button', { name: 'Deactivate' }).click();
    await settings.getByRole('status').filter({ hasText: 'is deactivated' }).waitFor();
    await page.locator('.subtitle').getByText('inactive').waitFor();
    expect((await api.call('GET', `/api/v1/machines/${machineId}`, newcomer.apiKey)).body.is_active).toBe(
      false,
    );
    await settings.getByRole('button', { name: 'Reactivate…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reactivate' }).click();
    await settings.getByRole('status').filter({ hasText: 'is active again' }).waitFor();
    expect((await api.call('GET', `/api/v1/machines/${machineId}`, newcomer.apiKey)).body.is_active).toBe(
      true,
    );
    // nothing reported yet: said plainly
    await page.getByRole('region', { name: 'Beacon' }).getByText('No beacon received yet').waitFor();
    await page
      .getByRole('region', { name: 'Fleet telemetry' })
      .getByText('No fleet telemetry received yet')
      .waitFor();
    await page.close();
  });

  it("shows a machine key's proof: not proven yet, then unproven once another operator's registration is proven", async () => {
    const early = await createOperator(db.pool, 'Early Operator');
    secrets.push(early.apiKey);
    const secret = generateSecretKey();
    const pub = getPublicKey(secret);
    const register = (o: Operator, name: string) =>
      api.call('POST', '/api/v1/machines', o.apiKey, { machine_npub: pub, name, fiat_code: 'USD' });
    const mine = await register(early, 'Copied Key ATM');
    expect(mine.status).toBe(201);
    const page = await newTab();
    await signIn(page, early.apiKey, 'Fleet');
    const card = machineCard(page, 'Copied Key ATM');
    await card.getByText('key not proven yet', { exact: true }).waitFor();
    expect(await card.getByTestId('key-state').textContent()).toContain(
      'no event signed by this machine and addressed to your operator key has been recorded',
    );

    // the machine's real operator registers the same key; the machine addresses it and proves it
    const theirs = await register(other, 'Real ATM');
    expect(theirs.status).toBe(201);
    await eventually(async () => ingest.keys.machines.get(pub)?.length === 2);
    const machineHex = Buffer.from(secret).toString('hex');
    await publisher.publish(
      signEvent(machineHex, {
        kind: KIND_TELEMETRY,
        tags: [
          ['d', D_TELEMETRY],
          ['p', other.pubkey],
        ],
        content: encryptFor(machineHex, other.pubkey, JSON.stringify({ uptime_s: 1 })),
      }),
    );
    await eventually(
      async () =>
        (await api.call('GET', `/api/v1/machines/${mine.body.id}`, early.apiKey)).body.key_state ===
        'unproven',
    );
    await page.reload();
    await card.getByText('key unproven', { exact: true }).waitFor();
    expect(await card.getByTestId('key-state').textContent()).toContain(
      'receives no beacons, telemetry or settlements',
    );
    await shot(page, 'operator-machine-key-unproven');
    await card.getByRole('link', { name: 'Copied Key ATM' }).click();
    await heading(page, 'Copied Key ATM').waitFor();
    await page
      .getByTestId('key-state')
      .filter({ hasText: 'another operator, whose registration of this key was proven' })
      .waitFor();
    // the page never says who holds the key
    expect(await page.content()).not.toContain('Real ATM');
    expect(await page.content()).not.toContain(other.pubkey);
    await page.close();
  });

  it('retries an errored settlement from the worklist once its wallet exists', async () => {
    // fee 6,000 where 5,000 is expected: the fee mismatch is over tolerance
    const hash = await sendSettlement(db.pool, temporal.client, taskQueue, retryMachine, operator, {
      wireSats: 106_000,
      feeSats: 6_000,
      fiat: '100.00',
    });
    const errored = await awaitStatus(db.pool, hash, ['errored']);
    retriedId = errored.id;

    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await nav(page, 'Worklist');
    await heading(page, 'Worklist').waitFor();
    const retry = page.getByRole('button', { name: `Retry settlement ${errored.id}` });
    const row = page
      .getByRole('region', { name: 'Errored settlements' })
      .getByRole('row')
      .filter({ has: retry });
    await row.waitFor();
    await shot(page, 'operator-worklist');

    // the wallet is created, then the operator retries: the dialog says what will happen
    await insertWallet(db.pool, late.userId, 'created later', 'walletlater0001');
    await retry.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('will be voided').waitFor();
    expect(await dialog.textContent()).toMatch(
      /1 failed leg will be voided[\s\S]*walletlater0001 does not exist/,
    );
    await shot(page, 'operator-retry-dialog');
    await dialog.getByRole('button', { name: 'Retry', exact: true }).click();
    const answer = page.getByRole('status').filter({ hasText: 'Retry applied' });
    await answer.waitFor();
    expect(await answer.textContent()).toContain('retrying: 1 leg(s)');
    expect(await dialog.count()).toBe(0);
    // focus lands next to the answer, not on the page's body
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('dismiss-outcome');
    // once the lists answer again, the settlement shows once, where it is now, and the answer once
    await answer.filter({ hasText: /It is now under|It has left the worklist/ }).waitFor();
    const appearsOnce = async () => {
      expect(await page.getByRole('status').filter({ hasText: 'Retry applied' }).count()).toBe(1);
      expect(
        await page.getByRole('link', { name: `Details of settlement ${errored.id}` }).count(),
      ).toBeLessThanOrEqual(1);
      expect(
        await page
          .getByRole('region', { name: 'Errored settlements' })
          .getByRole('button', { name: `Retry settlement ${errored.id}` })
          .count(),
      ).toBe(0);
      // each section's count is the number of rows it shows
      for (const title of ['Errored', 'Stuck pending', 'Stuck processing', 'Rejected']) {
        const section = page
          .locator('section')
          .filter({ has: page.getByRole('heading', { level: 2, name: title }) });
        const count = Number(await section.locator('.count').textContent());
        expect(await section.locator('tbody tr').count()).toBe(count);
      }
    };
    await appearsOnce();
    await shot(page, 'operator-worklist-retried');
    // everything in flight (threshold 0): still once
    await page.getByLabel('Stuck after (minutes)').fill('0');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('more than 0 min').waitFor();
    await appearsOnce();
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('processed');

    // its page: amounts with the mismatch highlighted, every leg, the notes, the workflow link
    // (processed, it has left the worklist: the answer links to it)
    await page
      .getByTestId('action-outcome')
      .getByRole('link', { name: `Settlement ${errored.id.slice(0, 10)}` })
      .click();
    await heading(page, /^Settlement /).waitFor();
    await page.getByText('Settled', { exact: true }).first().waitFor();
    const mismatch = page.getByTestId('fee-mismatch');
    expect(await mismatch.getAttribute('class')).toContain('highlight-warn');
    expect(await mismatch.textContent()).toContain('over tolerance');
    const legs = page.getByRole('region', { name: 'Legs' });
    await legs.getByText('Given up').waitFor();
    expect(await legs.getByText('Paid', { exact: true }).count()).toBeGreaterThanOrEqual(2);
    expect(await legs.textContent()).toContain('walletlater0001 does not exist');
    const temporalLink = page.getByRole('link', { name: /Open the workflow in the Temporal UI/ });
    expect(await temporalLink.getAttribute('href')).toBe(
      `http://127.0.0.1:8233/namespaces/default/workflows/settlement-${hash}`,
    );
    await page.getByRole('button', { name: 'Add note' }).click();
    expect(await fieldError(page, 'Add a note')).toBe('Write the note first.');
    await page.getByLabel('Add a note').fill('LP wallet created; paid on retry');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.getByRole('status').filter({ hasText: 'Note added.' }).waitFor();
    expect(await page.getByText('Write the note first.').count()).toBe(0);
    const notes = page.getByRole('list', { name: 'Notes, newest first' });
    await notes.getByText('LP wallet created; paid on retry').waitFor();
    expect(await notes.getByRole('listitem').allTextContents()).toEqual([
      expect.stringContaining('LP wallet created; paid on retry'),
      expect.stringContaining('retry: 1 leg(s) to pay again'),
    ]);
    await shot(page, 'operator-settlement');
    await page.close();
  });

  it('records a partial dispense inside the hold window', async () => {
    const hash = await sendSettlement(db.pool, temporal.client, gated!.taskQueue, hold, operator, {
      wireSats: 210_000,
      feeSats: 10_000,
      fiat: '200.00',
    });
    const holding = await eventually(async () => {
      const s = await settlementByHash(db.pool, hash);
      if (!s || s.status !== 'processing') return null;
      return (await legsOf(db.pool, s.id)).length ? s : null;
    });
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await page.goto(`${api.url}/settlements/${holding.id}`);
    await heading(page, /^Settlement /).waitFor();
    await page
      .getByText(/Payments held until/)
      .first()
      .waitFor();
    const actions = page.getByRole('group', { name: 'Actions' });

    // a hold is not stuck: force reset is not offered, and the page says when it would be
    await actions.getByRole('button', { name: 'Partial dispense' }).waitFor();
    expect(await actions.getByRole('button', { name: 'Force reset' }).count()).toBe(0);
    expect(await page.getByTestId('force-reset-wait').textContent()).toMatch(
      /Payments are on hold until .*a hold is not stuck.*becomes available only if it gets stuck/,
    );
    await shot(page, 'operator-force-reset-not-offered');

    await actions.getByRole('button', { name: 'Partial dispense' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Fiat actually dispensed (USD)').fill('150.00');
    await dialog.getByLabel('Note (why)').fill('cassette 2 jammed');
    const preview = dialog.getByRole('definition').filter({ hasText: '52,500 sats' });
    await preview.waitFor();
    expect(await dialog.textContent()).toMatch(/210,000 sats → 157,500 sats[\s\S]*Ends aspartial/);
    await shot(page, 'operator-partial-dispense-dialog');
    await dialog.getByRole('button', { name: 'Partial dispense' }).click();
    const answer = page.getByRole('status').filter({ hasText: 'Partial dispense applied' });
    await answer.waitFor();
    const amountsRegion = page.getByRole('region', { name: 'Amounts' });
    await amountsRegion.getByText('52,500 sats', { exact: true }).waitFor();
    const amounts = await amountsRegion.textContent();
    expect(amounts).toMatch(
      /Fiat150\.00 USD[\s\S]*Wire157,500 sats[\s\S]*Owed back to the customer52,500 sats/,
    );
    expect(await page.getByRole('list', { name: 'Notes, newest first' }).textContent()).toContain(
      'cassette 2 jammed',
    );
    await shot(page, 'operator-partial-dispense');
    expect((await settlementByHash(db.pool, hash))!.refund_sats).toBe(52_500);
    await page.close();
    await endHold(temporal.client, hash);
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('partial');
  });

  it('compares, edits and publishes cassettes', async () => {
    const state = signEvent(lobby.secretHex, {
      kind: 30078,
      tags: [
        ['d', `bitspire-cassettes-state:${lobby.row.machine_npub}`],
        ['p', operator.pubkey],
      ],
      content: encryptFor(
        lobby.secretHex,
        operator.pubkey,
        JSON.stringify({
          positions: { '1': { denomination: 20, count: 100 }, '2': { denomination: 50, count: 40 } },
        }),
      ),
    });
    await publisher.publish(state);
    await eventually(async () => {
      const r = await api.call('GET', `/api/v1/machines/${lobby.row.id}/cassettes`, operator.apiKey);
      return r.body.positions.length === 2;
    });

    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await nav(page, 'Cassettes');
    await page.getByRole('link', { name: 'Lobby ATM' }).click();
    await heading(page, 'Cassettes — Lobby ATM').waitFor();
    await page.getByLabel('Count of position 1').fill('80');
    await page.getByLabel('Count of position 2').fill('many');
    await page.getByRole('button', { name: 'Save changes (2)' }).click();
    // one saved, one refused: said together, as a problem, not as a green "saved"
    const partly = page.getByRole('alert').filter({ hasText: 'Saved 1 position.' });
    await partly.waitFor();
    expect(await partly.textContent()).toBe(
      'Saved 1 position. 1 position not saved: see the message in the table.',
    );
    expect(await fieldError(page, 'Count of position 2')).toContain('A whole number of bills');
    expect(await page.getByRole('status').filter({ hasText: 'Saved' }).count()).toBe(0);
    await page.getByLabel('Count of position 2').fill('40');
    await page.getByRole('button', { name: 'Publish to machine' }).waitFor();
    expect(await page.getByRole('button', { name: /^Save changes/ }).isDisabled()).toBe(true);
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '1' }) });
    await row.getByText('count: operator 80, machine 100').waitFor();
    expect(await row.getByText('differs').count()).toBe(1);
    await shot(page, 'operator-cassettes');

    await page.getByRole('button', { name: 'Publish to machine' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('Position 1: 80 × 20 USD');
    await dialog.getByRole('button', { name: 'Publish' }).click();
    const published = page.getByRole('region', { name: 'Published' });
    await published.waitFor();
    expect(await published.textContent()).toContain('Accepted by 1 of 1 relay');
    expect(await published.getByRole('list', { name: 'Relays' }).textContent()).toContain(
      `${relay.url}: ✓ accepted`,
    );
    await shot(page, 'operator-cassettes-published');
    await page.close();
  });

  it('records a cash collection on the machine page, the difference flagged; cassettes show days until empty', async () => {
    // what the settlements say the cash box holds (whatever earlier tests settled on this machine)
    const before = await api.call('GET', `/api/v1/machines/${lobby.row.id}/cash`, operator.apiKey);
    expect(before.status).toBe(200);
    const box = before.body.cash_box as { denomination: number; count: number }[];
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await page.goto(`${api.url}/machines/${lobby.row.id}`);
    const cash = page.getByRole('region', { name: 'Cash' });
    await cash.getByRole('heading', { name: 'Record a collection' }).waitFor();
    // a bad count first: the field says why, nothing is recorded
    await cash.getByLabel('Denomination, line 1').fill('7');
    await cash.getByLabel('Bills counted, line 1').fill('1');
    await cash.getByRole('button', { name: 'Record collection' }).click();
    expect(await fieldError(page, 'Denomination, line 1')).toContain('7 is not a USD bill');
    // every denomination the box should hold, as expected, and one 20 more than the settlements say
    const lines = box.length ? box : [{ denomination: 20, count: 0 }];
    if (!lines.some((b) => b.denomination === 20)) lines.push({ denomination: 20, count: 0 });
    for (let i = 0; i < lines.length; i++) {
      if (i > 0 && i >= Math.max(1, box.length))
        await cash.getByRole('button', { name: 'Add a denomination' }).click();
      const b = lines[i]!;
      await cash.getByLabel(`Denomination, line ${i + 1}`).fill(String(b.denomination));
      await cash
        .getByLabel(`Bills counted, line ${i + 1}`)
        .fill(String(b.count + (b.denomination === 20 ? 1 : 0)));
    }
    await cash.getByRole('button', { name: 'Record collection' }).click();
    const flagged = page.getByRole('status').filter({ hasText: 'Difference +20.00 USD' });
    await flagged.waitFor();
    expect(await flagged.textContent()).toContain('20 USD: counted');
    const listed = cash.getByRole('table', { name: 'Cash collections' });
    await listed.getByText('+20.00 USD').first().waitFor();
    await shot(page, 'operator-machine-cash');
    await page.goto(`${api.url}/machines/${lobby.row.id}/cassettes`);
    await heading(page, 'Cassettes — Lobby ATM').waitFor();
    expect(await page.getByTestId('days-until-empty-1').textContent()).toMatch(
      /^(\d+(\.\d)? days \(.* bills of 20\/day\)|no 20 dispensed in 7 days)$/,
    );
    await page.close();
  });

  it('enrols an LP, records and confirms a deposit, and edits commission splits to a sum of 1', async () => {
    const bob = await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'bob' });
    await insertLpPreferences(db.pool, bob.user.id, {
      dca_wallet_id: (await insertWallet(db.pool, bob.user.id, 'bob wallet')).id,
      default_dca_mode: 'flow',
      fixed_mode_daily_limit: null,
      autoforward_ln_address: null,
      autoforward_enabled: false,
    });
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await nav(page, 'LPs & deposits');
    await heading(page, 'LPs and deposits').waitFor();
    // the page's filter and the enrol form's machine have names of their own
    expect(await page.getByRole('combobox', { name: 'Show machine' }).count()).toBe(1);
    expect(await page.getByLabel('Machine', { exact: true }).count()).toBe(0);
    const enrol = page.locator('form').filter({ hasText: 'Enrol an LP at a machine' });
    await enrol.getByLabel('Machine to enrol at').selectOption({ label: 'Lobby ATM' });
    await enrol.getByLabel('LP user id').fill(bob.user.id);
    await enrol.getByRole('button', { name: 'Enrol' }).click();
    await enrol.getByRole('status').filter({ hasText: 'Enrolled bob' }).waitFor();
    await enrol.getByLabel('LP user id').fill(carol.id);
    await enrol.getByRole('button', { name: 'Enrol' }).click();
    await enrol.getByRole('status').filter({ hasText: 'Enrolled carol' }).waitFor();

    // carol has no payout wallet yet: the API refuses her deposit and says why
    const deposit = page.locator('form').filter({ hasText: 'Record a deposit' });
    await deposit.getByLabel('LP at machine').selectOption({ label: 'carol at Lobby ATM' });
    await deposit.getByLabel(/^Amount/).fill('10');
    await deposit.getByRole('button', { name: 'Record deposit' }).click();
    const notOnboarded = deposit.getByRole('alert');
    await notOnboarded.waitFor();
    expect(await notOnboarded.textContent()).toBe(
      'carol has not set a payout wallet yet; they do it under Preferences when they sign in.',
    );

    // more than 2 decimals: said by the field
    await deposit.getByLabel('LP at machine').selectOption({ label: 'bob at Lobby ATM' });
    expect(await notOnboarded.count()).toBe(0);
    await deposit.getByLabel(/^Amount/).fill('12.345');
    await deposit.getByRole('button', { name: 'Record deposit' }).click();
    expect(await fieldError(page, 'Amount (USD)')).toContain('at most 2 decimals');

    // a deposit recorded, then rejected: the "recorded" notice goes; the rejected deposit can be deleted
    await deposit.getByLabel(/^Amount/).fill('40');
    await deposit.getByRole('button', { name: 'Record deposit' }).click();
    const recorded = deposit.getByRole('status').filter({ hasText: 'Recorded 40.00 USD' });
    await recorded.waitFor();
    await page.getByRole('button', { name: 'Reject deposit of 40.00 USD for bob' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reject deposit' }).click();
    await page.getByRole('status').filter({ hasText: 'Deposit of 40.00 USD rejected' }).waitFor();
    await recorded.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Delete deposit of 40.00 USD for bob' }).click();
    expect(await page.getByRole('dialog').textContent()).toContain('removed for good');
    await page.getByRole('dialog').getByRole('button', { name: 'Delete deposit' }).click();
    await page.getByRole('status').filter({ hasText: 'Deposit of 40.00 USD deleted' }).waitFor();
    await page
      .getByRole('region', { name: 'Deposits' })
      .getByText('40.00 USD')
      .waitFor({ state: 'detached' });

    // a pending deposit can be deleted too
    await deposit.getByLabel(/^Amount/).fill('15');
    await deposit.getByRole('button', { name: 'Record deposit' }).click();
    await deposit.getByRole('status').filter({ hasText: 'Recorded 15.00 USD' }).waitFor();
    expect(await page.getByRole('status').filter({ hasText: 'Deposit of 40.00 USD deleted' }).count()).toBe(
      0,
    );
    await page.getByRole('button', { name: 'Delete deposit of 15.00 USD for bob' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete deposit' }).click();
    await page.getByRole('status').filter({ hasText: 'Deposit of 15.00 USD deleted' }).waitFor();
    expect((await api.call('GET', '/api/v1/deposits', operator.apiKey)).body).not.toContainEqual(
      expect.objectContaining({ amount: '15.00' }),
    );

    await deposit.getByLabel(/^Amount/).fill('250');
    await deposit.getByRole('button', { name: 'Record deposit' }).click();
    await deposit.getByRole('status').filter({ hasText: 'Recorded 250.00 USD' }).waitFor();
    await page.getByRole('button', { name: 'Confirm deposit of 250.00 USD for bob' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('can never be deleted');
    await dialog.getByRole('button', { name: 'Confirm deposit' }).click();
    await page.getByRole('status').filter({ hasText: 'Deposit of 250.00 USD confirmed' }).waitFor();
    await page
      .getByRole('region', { name: 'Enrolments and balances' })
      .getByRole('row')
      .filter({ hasText: 'bob' })
      .getByText('250.00 USD')
      .first()
      .waitFor();
    await shot(page, 'operator-lps-deposits');

    // an enrolment is deactivated, then reactivated, each behind a confirmation that says what happens
    const bobRow = page
      .getByRole('region', { name: 'Enrolments and balances' })
      .getByRole('row')
      .filter({ hasText: 'bob' });
    await page.getByRole('button', { name: 'Deactivate bob at Lobby ATM' }).click();
    const toggle = page.getByRole('dialog');
    expect(await toggle.textContent()).toContain("stop spending bob's balance");
    await shot(page, 'operator-lps-deactivate-dialog');
    await toggle.getByRole('button', { name: 'Deactivate enrolment' }).click();
    await page.getByRole('status').filter({ hasText: 'bob is now inactive at Lobby ATM.' }).waitFor();
    await bobRow.getByText('inactive', { exact: true }).waitFor();
    const bobClient = async () =>
      (await api.call('GET', '/api/v1/clients', operator.apiKey)).body.find(
        (c: { user_id: string }) => c.user_id === bob.user.id,
      );
    expect((await bobClient()).status).toBe('inactive');
    await shot(page, 'operator-lps-enrolment-inactive');
    await page.getByRole('button', { name: 'Reactivate bob at Lobby ATM' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reactivate enrolment' }).click();
    await page.getByRole('status').filter({ hasText: 'bob is now active at Lobby ATM.' }).waitFor();
    await bobRow.getByText('active', { exact: true }).waitFor();
    expect((await bobClient()).status).toBe('active');

    const second = await insertWallet(db.pool, operator.id, 'partner');
    await nav(page, 'Commission splits');
    await heading(page, 'Commission splits').waitFor();
    await page.getByText('Sum 1.000000 — complete.').waitFor();
    // no machine has rules of its own yet: none is labelled as an override
    expect((await page.getByLabel('Rules for').locator('option').allTextContents()).sort()).toEqual(
      ['all machines (your default)', 'Hold ATM', 'Lobby ATM', 'Retry ATM'].sort(),
    );
    await page.getByRole('button', { name: 'Add leg' }).click();
    await page.getByLabel('Leg 2: wallet id or Lightning address').fill(second.id);
    await page.getByLabel('Leg 2: label').fill('partner');
    await page.getByLabel('Leg 2: share').fill('0.25');
    await page.getByText('Sum 1.250000 — 0.250000 too much.').waitFor();
    const save = page.getByRole('button', { name: 'Save splits' });
    expect(await save.isDisabled()).toBe(true);
    await page.getByLabel('Leg 1: share').fill('0.7');
    await page.getByText('0.050000 still to share before saving').waitFor();
    expect(await save.isDisabled()).toBe(true);
    await page.getByLabel('Leg 1: share').fill('0.75');
    await page.getByText('Sum 1.000000 — complete.').waitFor();
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const saved = await api.call('GET', '/api/v1/commission-splits', operator.apiKey);
    expect(saved.body.legs.map((l: { fraction: string }) => l.fraction)).toEqual(['0.750000', '0.250000']);
    await shot(page, 'operator-commission-splits');

    // an override for Lobby ATM: the "Saved." of the default does not carry over, and the picker says so
    await page.getByLabel('Rules for').selectOption({ label: 'Lobby ATM' });
    await page.getByText('No legs in this scope.').waitFor();
    expect(await page.getByRole('status').filter({ hasText: 'Saved.' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Add leg' }).click();
    await page.getByLabel('Leg 1: wallet id or Lightning address').fill(second.id);
    await page.getByLabel('Leg 1: share').fill('1');
    await page.getByRole('button', { name: 'Save splits' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page.getByRole('option', { name: 'Lobby ATM (override)' }).waitFor({ state: 'attached' });
    expect(await page.getByRole('option', { name: '(override)' }).count()).toBe(1);
    await page.close();
  });

  it('lists alerts with their delivery history, sets a DM recipient, refuses a webhook on loopback', async () => {
    const alertId = newId();
    await db.pool.query(
      `INSERT INTO satmachine.alerts (id, operator_user_id, rule, alert_key, subject_type, subject_id, severity, summary,
              status, resolved_at)
       VALUES ($1, $2, 'machine_offline', 'machine_offline:' || $3, 'machine', $3, 'critical',
               'Machine Lobby ATM is offline: not seen for 15 minutes or more', 'resolved', now())`,
      [alertId, operator.id, lobby.row.id],
    );
    await db.pool.query(
      `INSERT INTO satmachine.alert_deliveries (id, alert_id, operator_user_id, channel, endpoint, event, attempt,
              outcome, http_status, error)
       VALUES ($1, $2, $3, 'webhook', 'hook1', 'open', 1, 'failed', 500, 'not a 2xx answer')`,
      [newId(), alertId, operator.id],
    );
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await nav(page, 'Alerts');
    await heading(page, 'Alerts').waitFor();
    await page.getByRole('link', { name: /Lobby ATM is offline/ }).click();
    await heading(page, 'Machine offline').waitFor();
    const log = page.getByRole('region', { name: 'Delivery attempts' });
    await log.getByText('HTTP 500 · not a 2xx answer').waitFor();
    await shot(page, 'alert');

    await page.goto(`${api.url}/alerts/settings`);
    await heading(page, 'Alert rules and channels').waitFor();
    await page.getByLabel('Nostr recipient (npub)').fill('npub1notakey');
    await page.getByRole('button', { name: 'Save rules and channels' }).click();
    await page
      .getByText(/npub|Nostr public key/i)
      .first()
      .waitFor();
    await page.getByLabel('Nostr recipient (npub)').fill(operator.pubkey);
    await page.getByRole('button', { name: 'Save rules and channels' }).click();
    await page.getByText('Saved. The next evaluation').waitFor();
    await page.getByLabel('Webhook URL').fill('http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await page.getByText(/loopback address/).waitFor();
    await shot(page, 'alert-settings');
  });

  it("an operator cannot reach another operator's machine or settlement by editing the URL", async () => {
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    for (const path of [`/machines/${foreign.row.id}/cassettes`, `/machines/${foreign.row.id}`]) {
      await page.goto(`${api.url}${path}`);
      await page
        .getByRole('alert')
        .filter({ hasText: `Not found: machine ${foreign.row.id}` })
        .waitFor();
      expect(await page.textContent('main')).not.toContain('Not yours');
    }
    await shot(page, 'operator-foreign-machine');
    // and the other operator cannot open this operator's settlement
    const theirs = await newTab();
    await signIn(theirs, other.apiKey, 'Fleet');
    await theirs.goto(`${api.url}/settlements/${retriedId}`);
    await theirs
      .getByRole('alert')
      .filter({ hasText: `Not found: settlement ${retriedId}` })
      .waitFor();
    await page.close();
    await theirs.close();
  });

  it('an LP signs in, reads balances and payouts, downloads the CSV and sees field errors', async () => {
    const page = await newTab();
    await signIn(page, alice.apiKey, 'Balances');
    const links = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    expect(links).toEqual(['Balances', 'Payouts', 'Statement', 'Preferences']);
    await page.getByRole('heading', { name: 'Operator Ana Operator' }).waitFor();
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'Lobby ATM' }) });
    expect(await row.textContent()).toMatch(/1000\.00 USD.*USD.*0\.00 USD.*USD.*sats/);
    // what alice paid per bitcoin: grouped digits and the currency, rounded to the cent
    expect(await row.getByRole('cell').last().textContent()).toMatch(/^\d{1,3}(,\d{3})+\.\d\d USD$/);
    await shot(page, 'lp-balances');

    await nav(page, 'Payouts');
    await heading(page, 'Payouts').waitFor();
    await page.getByRole('region', { name: 'Payouts' }).getByText('LP purchase').first().waitFor();
    // one page of payouts: the pager says so and goes neither way
    const pager = page.getByRole('navigation', { name: 'Payout pages' });
    await pager.getByText('Page 1', { exact: true }).waitFor();
    expect(await pager.getByRole('button', { name: 'Newer' }).isDisabled()).toBe(true);
    expect(await pager.getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV (all payouts)' }).click(),
    ]);
    expect(download.url()).toMatch(/^blob:/);
    expect(download.suggestedFilename()).toMatch(/^satmachine-payouts-\d{4}-\d\d-\d\d\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8').split('\r\n');
    expect(csv[0]).toBe(
      'completed_at,leg_type,machine_name,amount_sats,amount_fiat,currency,exchange_rate,payment_hash,destination,settlement_id,id',
    );
    expect(csv[1]).toMatch(/^\d{4}-.*,dca,Lobby ATM,\d+,\d+\.\d\d,USD,/);
    await page.getByRole('status').filter({ hasText: 'Downloaded your payouts as CSV' }).waitFor();
    await shot(page, 'lp-payouts');

    await nav(page, 'Preferences');
    await heading(page, 'Preferences').waitFor();
    await page.getByLabel('Forward every payout to a Lightning address').check();
    await page.getByLabel('Lightning address', { exact: true }).fill('not an address');
    await page.getByRole('button', { name: 'Save preferences' }).click();
    expect(await fieldError(page, 'Lightning address')).toContain('must be a Lightning address name@domain');
    // the API's message is next to the field, and focus moved there
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('pref-autoforward_ln_address');
    await shot(page, 'lp-preferences-invalid');
    await page.getByLabel('Lightning address', { exact: true }).fill('alice@wallet.example');
    await page.getByRole('button', { name: 'Save preferences' }).click();
    // the embedded ledger cannot forward to an address elsewhere: said by the field, nothing saved
    await page
      .getByText(/embedded ledger/)
      .first()
      .waitFor();
    expect(await fieldError(page, 'Lightning address')).toContain('embedded ledger');
    await page.getByLabel('Forward every payout to a Lightning address').uncheck();
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await page.getByRole('status').filter({ hasText: 'Preferences saved.' }).waitFor();

    // an operator page is not for an LP
    await page.goto(`${api.url}/fleet`);
    await heading(page, 'Not available').waitFor();
    await page.close();

    // an LP that has not onboarded creates a payout wallet and saves: it is onboarded
    const fresh = await newTab();
    await signIn(fresh, carol.apiKey, 'Balances');
    await fresh.getByRole('status').filter({ hasText: 'You have no payout wallet yet' }).waitFor();
    await nav(fresh, 'Preferences');
    await fresh.getByRole('status').filter({ hasText: 'You have not onboarded yet' }).waitFor();
    await fresh.getByRole('button', { name: 'Save preferences' }).click();
    expect(await fieldError(fresh, 'Payout wallet id')).toContain('required on the first call');
    await fresh.getByRole('button', { name: 'Create a new wallet' }).click();
    await fresh.getByRole('status').filter({ hasText: 'Created wallet' }).waitFor();
    const wallet = await fresh.getByLabel('Payout wallet id').inputValue();
    expect(wallet).toMatch(/^[A-Za-z0-9_-]+$/);
    await fresh.getByRole('button', { name: 'Save preferences' }).click();
    await fresh.getByRole('status').filter({ hasText: 'Preferences saved.' }).waitFor();
    // saved: onboarded, so the notice saying otherwise is gone (and so is "Save to use it")
    expect(await fresh.getByText('You have not onboarded yet').count()).toBe(0);
    expect(await fresh.getByText('Save to use it').count()).toBe(0);
    expect((await api.call('GET', '/api/v1/lp/preferences', carol.apiKey)).body).toMatchObject({
      dca_wallet_id: wallet,
      default_dca_mode: 'flow',
    });
    await shot(fresh, 'lp-onboarded');
    await fresh.close();
  });

  it('the platform edits its fees and creates a user whose key is shown once', async () => {
    const page = await newTab();
    await signIn(page, platform.apiKey, 'Platform config');
    await page.getByLabel('Cash-out fee fraction').fill('0.5x');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    // the API's message by the field, its noun said once; the notice is a sentence, not the raw summary
    const feeError = await fieldError(page, 'Cash-out fee fraction');
    expect(feeError).toContain('fraction must be a decimal number');
    expect(feeError).not.toMatch(/fraction fraction/);
    expect(await page.getByRole('alert').textContent()).toBe(
      'One field needs a change: see the message next to it.',
    );
    await page.getByLabel('Cash-out fee fraction').fill('0.02');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    expect((await api.call('GET', '/api/v1/super/config', platform.apiKey)).body).toMatchObject({
      platform_cash_out_fee_fraction: '0.020000',
    });
    await shot(page, 'super-config');

    await nav(page, 'Users');
    await heading(page, 'Users').waitFor();
    await page.getByLabel('Role').selectOption('operator');
    await page.getByLabel('Name', { exact: true }).fill('Night Shift');
    await page.getByRole('button', { name: 'Create user' }).click();
    const key = await page.getByLabel('API key of Night Shift (operator)').inputValue();
    secrets.push(key);
    expect((await api.call('GET', '/api/v1/me', key)).body).toMatchObject({
      name: 'Night Shift',
      role: 'operator',
    });
    await page.getByRole('region', { name: 'Users' }).getByText('Night Shift').waitFor();
    await shot(page, 'super-users-new-key');
    await page.getByRole('button', { name: 'I have saved it — hide the key' }).click();
    expect(await page.getByText(key).count()).toBe(0);
    expect(await page.getByLabel('API key of Night Shift (operator)').count()).toBe(0);

    // Night Shift lost its key: the platform issues another, shown once; both work
    await page.getByRole('button', { name: 'New key for Night Shift' }).click();
    const second = await page.getByLabel('API key of Night Shift (operator)').inputValue();
    secrets.push(second);
    expect(second).not.toBe(key);
    expect((await api.call('GET', '/api/v1/me', second)).body.name).toBe('Night Shift');
    await shot(page, 'super-users-reissued-key');
    await page.getByRole('button', { name: 'I have saved it — hide the key' }).click();
    await page.close();
  });

  it('works at phone width (390 px) and from the keyboard, and signs out', async () => {
    // a rejected settlement: the worklist has a table (whose cells hold visually hidden text)
    const rejectedHash = await sendSettlement(db.pool, temporal.client, taskQueue, lobby, operator, {
      wireSats: 50_000,
      feeSats: 1_000,
      fiat: '50.00',
      paymentAmount: 49_000,
    });
    await awaitStatus(db.pool, rejectedHash, ['rejected']);

    /** nothing reaches past the right edge (tables scroll inside their region) and the page does not scroll sideways */
    async function fitsPhone(page: Page, name: string): Promise<void> {
      await page.waitForLoadState('networkidle');
      const wide = await page.evaluate(() =>
        [...document.querySelectorAll('*')]
          .filter((e: any) => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))
          .slice(0, 8)
          .map((e: any) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`),
      );
      expect(wide).toEqual([]);
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      if (scrollWidth > 390) throw new Error(`${name} is ${scrollWidth} px wide at 390 px`);
      await shot(page, name);
    }

    const page = await newTab();
    await page.setViewportSize({ width: 390, height: 844 });
    await signIn(page, operator.apiKey, 'Fleet');
    await machineCard(page, 'Lobby ATM').getByTestId('today-count').filter({ hasText: /^\d/ }).waitFor();
    await fitsPhone(page, 'phone-fleet');
    for (const [path, name, title] of [
      ['/worklist', 'phone-worklist', 'Worklist'],
      [`/settlements/${retriedId}`, 'phone-settlement', /^Settlement /],
      [`/machines/${lobby.row.id}`, 'phone-machine', 'Lobby ATM'],
      ['/lps', 'phone-lps', 'LPs and deposits'],
      ['/splits', 'phone-commission-splits', 'Commission splits'],
      ['/cassettes', 'phone-cassettes-index', 'Cassettes'],
      [`/machines/${lobby.row.id}/cassettes`, 'phone-cassettes', 'Cassettes — Lobby ATM'],
      ['/alerts', 'phone-alerts', 'Alerts'],
      ['/alerts/settings', 'phone-alert-settings', 'Alert rules and channels'],
    ] as [string, string, string | RegExp][]) {
      await page.goto(`${api.url}${path}`);
      await heading(page, title).waitFor();
      if (path === '/worklist')
        await page.getByRole('region', { name: 'Rejected settlements' }).getByRole('row').nth(1).waitFor();
      await fitsPhone(page, name);
    }
    // the LP's and the platform's pages too
    for (const [key, pages] of [
      [
        alice.apiKey,
        [
          ['/lp', 'phone-lp-balances', 'Balances'],
          ['/lp/payouts', 'phone-lp-payouts', 'Payouts'],
          ['/lp/preferences', 'phone-lp-preferences', 'Preferences'],
        ],
      ],
      [
        platform.apiKey,
        [
          ['/super/config', 'phone-super-config', 'Platform config'],
          ['/super/users', 'phone-super-users', 'Users'],
        ],
      ],
    ] as [string, [string, string, string][]][]) {
      const tab = await newTab();
      await tab.setViewportSize({ width: 390, height: 844 });
      await signIn(tab, key, pages[0]![2]);
      for (const [path, name, title] of pages) {
        await tab.goto(`${api.url}${path}`);
        await heading(tab, title).waitFor();
        await fitsPhone(tab, name);
      }
      await tab.close();
    }

    // keyboard: the first Tab reaches the skip link, which moves to the content; focus is visible
    await page.goto(`${api.url}/fleet`);
    await heading(page, 'Fleet').waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    const outline = () =>
      page.evaluate(() => {
        const s = getComputedStyle(document.activeElement);
        return `${s.outlineStyle} ${s.outlineWidth}`;
      });
    expect(await outline()).toBe('solid 3px');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('satmachine');
    expect(await outline()).toBe('solid 3px');
    // a dialog opened from the keyboard takes focus and Escape closes it
    await page.goto(`${api.url}/machines/${lobby.row.id}/cassettes`);
    await page.getByRole('button', { name: 'Publish to machine' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    expect(await page.evaluate(() => !!document.activeElement?.closest('dialog'))).toBe(true);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Publish to machine');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading(page, 'satmachine console').waitFor();
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect(await page.evaluate(() => window.sessionStorage.getItem('satmachine.apiKey'))).toBeNull();
    await shot(page, 'phone-signed-out');
    await page.close();
  });

  it('voids the failed legs of an errored settlement whose workflow ops terminated', async () => {
    // a machine of its own, made last: the tests before list the operator's machines
    const atm = await createMachine(db.pool, operator, { name: 'Void ATM' });
    const gone = await createLp(db.pool, atm, { name: 'gone lp', depositCents: 20_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'voidwallet0099' WHERE user_id = $1`, [
      gone.userId,
    ]);
    const hash = await sendSettlement(db.pool, temporal.client, taskQueue, atm, operator, {
      wireSats: 10_500,
      feeSats: 500,
      fiat: '10.00',
    });
    const errored = await awaitStatus(db.pool, hash, ['errored']);
    await temporal.client.workflow.getHandle(`settlement-${hash}`).terminate('ops');
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await page.goto(`${api.url}/settlements/${errored.id}`);
    await heading(page, /^Settlement /).waitFor();
    const actions = page.getByRole('group', { name: 'Actions' });
    await actions.getByRole('button', { name: 'Void failed legs' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(/becomes available again/).waitFor();
    expect(await dialog.textContent()).toMatch(/\(10\.00 USD\) becomes available again/);
    await dialog.getByRole('button', { name: 'Void failed legs' }).click();
    await dialog.getByText('Say why (e.g. the LP was paid by hand)').waitFor();
    await dialog.getByLabel('Note (why)').fill('LP paid by hand');
    await shot(page, 'operator-void-failed-legs-dialog');
    await dialog.getByRole('button', { name: 'Void failed legs' }).click();
    await page.getByRole('status').filter({ hasText: 'Void failed legs applied' }).waitFor();
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('processed');
    expect(
      (await legsOf(db.pool, errored.id)).filter((l) => l.client_id === gone.clientId).map((l) => l.status),
    ).toEqual(['voided']);
    await page.close();
  });

  it('closes a settlement whose workflow closed while it waited for its ATM event', async () => {
    const atm = await createMachine(db.pool, operator, { name: 'Close ATM' });
    const hash = newPaymentHash();
    // the payment only: the workflow files a pending row after 1 s and waits; then ops terminate it
    await new SettlementSignals(temporal.client, taskQueue, 1000).paymentObserved({
      wallet_id: atm.walletId,
      payment_hash: hash,
      amount_sats: 10_500,
      direction: 'incoming',
    });
    const waiting = await awaitStatus(db.pool, hash, ['pending']);
    await temporal.client.workflow.getHandle(`settlement-${hash}`).terminate('ops');
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    await page.goto(`${api.url}/settlements/${waiting.id}`);
    await heading(page, /^Settlement /).waitFor();
    const actions = page.getByRole('group', { name: 'Actions' });
    await actions.getByRole('button', { name: 'Close (no money arrived)' }).click();
    const dialog = page.getByRole('dialog');
    await dialog
      .getByText(/rejected/)
      .first()
      .waitFor();
    expect(await dialog.textContent()).toMatch(
      /Nothing was planned or paid for it, and nothing ever will be/,
    );
    await dialog.getByRole('button', { name: 'Close (no money arrived)' }).click();
    await dialog.getByText('Say why (e.g. the customer was never charged)').waitFor();
    await dialog.getByLabel('Note (why)').fill('customer never charged');
    await shot(page, 'operator-close-dialog');
    await dialog.getByRole('button', { name: 'Close (no money arrived)' }).click();
    await page.getByRole('status').filter({ hasText: 'Close (no money arrived) applied' }).waitFor();
    expect(await settlementByHash(db.pool, hash)).toMatchObject({
      status: 'rejected',
      error_message: 'closed by operator: customer never charged',
    });
    expect(await legsOf(db.pool, waiting.id)).toEqual([]);
    await page.close();
  });

  it("speaks the operator's words, highlights the section of every page, finds a settlement by its payment hash", async () => {
    const { rows } = await db.pool.query<{ payment_hash: string }>(
      'SELECT payment_hash FROM satmachine.dca_settlements WHERE id = $1',
      [retriedId],
    );
    const hash = rows[0]!.payment_hash;
    const page = await newTab();
    await signIn(page, operator.apiKey, 'Fleet');
    const current = () =>
      page.getByRole('navigation', { name: 'Main' }).locator('a[aria-current="page"]').textContent();
    for (const [path, title, section] of [
      ['/fleet', 'Fleet', 'Fleet'],
      ['/worklist', 'Worklist', 'Worklist'],
      ['/lps', 'LPs and deposits', 'LPs & deposits'],
      ['/splits', 'Commission splits', 'Commission splits'],
      ['/cassettes', 'Cassettes', 'Cassettes'],
      ['/reports', 'Reports', 'Reports'],
      ['/alerts', 'Alerts', 'Alerts'],
      ['/alerts/settings', 'Alert rules and channels', 'Alerts'],
      [`/machines/${retryMachine.row.id}`, 'Retry ATM', 'Fleet'],
      [`/machines/${lobby.row.id}/cassettes`, 'Cassettes — Lobby ATM', 'Cassettes'],
      [`/settlements/${retriedId}`, /^Settlement /, 'Fleet'],
    ] as [string, string | RegExp, string][]) {
      await page.goto(`${api.url}${path}`);
      await heading(page, title).waitFor();
      expect([path, await current()]).toEqual([path, section]);
    }
    // a highlighted entry looks different from the others, not only to a screen reader
    const styleOf = (sel: string) =>
      page.evaluate(
        (q) =>
          (getComputedStyle(document.querySelector(q)) as unknown as { backgroundColor: string })
            .backgroundColor,
        sel,
      );
    expect(await styleOf('nav a[aria-current="page"]')).not.toBe(await styleOf('nav a:not([aria-current])'));

    // the settlement page: leg types and statuses in words, the codes in tooltips
    const legs = page.getByRole('region', { name: 'Legs' });
    await legs.getByText('LP purchase').first().waitFor();
    expect(await legs.getByText('LP purchase').first().getAttribute('title')).toBe('dca');
    await legs.getByText('Commission split').first().waitFor();
    await legs.getByText('Paid', { exact: true }).first().waitFor();
    expect(await legs.textContent()).not.toMatch(/\b(dca|operator_split|completed)\b/);
    expect(await page.locator('.subtitle').textContent()).toMatch(/Settled\s*Cash-out at/);
    // numbers that reconcile: the fee as a share of the wire (6,000 of 106,000), the rate with the fee
    // (106,000 sats for 100.00 USD), leg fiat with its currency
    const amounts = page.getByRole('region', { name: 'Amounts' });
    expect(await amounts.textContent()).toContain('6,000 sats (5.66 % of the wire)');
    expect(await page.getByTestId('effective-rate').textContent()).toContain(
      'with the ATM fee: 1,060 sats / USD',
    );
    expect(await legs.textContent()).toMatch(/\d+\.\d{2} USD/);

    // the machine's settlement list shows the payment hash (short, the full one in the tooltip)
    await page.goto(`${api.url}/machines/${retryMachine.row.id}`);
    const list = page.getByRole('region', { name: 'Settlements' });
    await list.locator(`code[title="${hash}"]`).waitFor();
    expect(await list.locator(`code[title="${hash}"]`).textContent()).toBe(`${hash.slice(0, 12)}…`);
    await list.getByText('Settled').first().waitFor();
    // the TxType search attribute's code (cash_out) behind the word
    expect(await list.getByText('Cash-out').first().getAttribute('title')).toBe('TxType = cash_out');
    expect(await page.getByTestId('page-totals').textContent()).toMatch(
      /^Total of these \d+ settlements?: [\d,]+ sats? wire \(ATM fees [\d,]+ sats?\) · [\d,]+\.\d{2} USD$/,
    );
    const feeTerm = page
      .locator('dt', { hasText: 'Your cash-out fee' })
      .locator('xpath=following-sibling::dd');
    expect(await feeTerm.textContent()).toMatch(/^\d+(\.\d+)? %$/);
    // search by hash: a malformed one is refused in place, an unknown one is not found, a known one opens
    const search = page.getByRole('search', { name: 'Find by payment hash' });
    await search.getByLabel('Payment hash').fill('not-a-hash');
    await search.getByRole('button', { name: 'Find' }).click();
    expect(await fieldError(page, 'Payment hash')).toContain('64 hexadecimal characters');
    await search.getByLabel('Payment hash').fill(newPaymentHash());
    await search.getByRole('button', { name: 'Find' }).click();
    expect(await fieldError(page, 'Payment hash')).toContain('No settlement of yours has the payment hash');
    await search.getByLabel('Payment hash').fill(` ${hash.toUpperCase()} `);
    await search.getByRole('button', { name: 'Find' }).click();
    await heading(page, /^Settlement /).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/settlements/${retriedId}`);
    // another operator's settlement is not found by its hash either
    const foreignTab = await newTab();
    await signIn(foreignTab, other.apiKey, 'Fleet');
    await foreignTab.goto(`${api.url}/worklist`);
    const otherSearch = foreignTab.getByRole('search', { name: 'Find by payment hash' });
    await otherSearch.getByLabel('Payment hash').fill(hash);
    await otherSearch.getByRole('button', { name: 'Find' }).click();
    expect(await fieldError(foreignTab, 'Payment hash')).toContain('No settlement of yours');
    await foreignTab.close();

    // at 390 px the settlement lists are cards: nothing scrolls sideways inside them either
    await page.setViewportSize({ width: 390, height: 844 });
    const noSideways = async (region: Locator) => {
      await region.getByRole('row').nth(1).waitFor();
      const [scroll, client] = await region.evaluate((el: any) => [el.scrollWidth, el.clientWidth]);
      expect(scroll).toBeLessThanOrEqual(client);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    };
    await page.goto(`${api.url}/machines/${retryMachine.row.id}`);
    await noSideways(page.getByRole('region', { name: 'Settlements' }));
    const card = page.getByRole('region', { name: 'Settlements' }).getByRole('row').nth(1);
    for (const cell of ['Status', 'Settlement', 'Wire', 'Fiat'])
      expect(await card.locator(`td[data-label="${cell}"]`).isVisible()).toBe(true);
    await shot(page, 'phone-machine-settlements-cards');
    await page.goto(`${api.url}/worklist`);
    await noSideways(page.getByRole('region', { name: 'Rejected settlements' }));
    await shot(page, 'phone-worklist-cards');
    await page.close();
  });

  it("the platform revokes a user's API key from the users page; the key is refused from then on", async () => {
    const victim = await createOperator(db.pool, 'Compromised Carl');
    expect((await api.call('GET', '/api/v1/me', victim.apiKey)).status).toBe(200);
    const page = await newTab();
    await signIn(page, platform.apiKey, 'Platform config');
    await page.goto(`${api.url}/super/users`);
    await heading(page, 'Users').waitFor();
    await page.getByRole('button', { name: 'Keys of Compromised Carl' }).click();
    const keys = page.getByRole('region', { name: 'API keys of Compromised Carl' });
    await keys.getByText('active').waitFor();
    await keys.getByRole('button', { name: /^Revoke key .* of Compromised Carl$/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Revoke the key' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText(/of Compromised Carl is revoked/).waitFor();
    await keys.getByText(/^revoked /).waitFor();
    expect(await keys.getByRole('button', { name: /^Revoke key/ }).count()).toBe(0);
    expect((await api.call('GET', '/api/v1/me', victim.apiKey)).status).toBe(401);
    // the platform's own session is untouched
    expect((await api.call('GET', '/api/v1/me', platform.apiKey)).status).toBe(200);
    await page.close();
  });

  it('never put a key in a URL or a browser log, and no page threw', () => {
    expect(secrets.length).toBeGreaterThan(4);
    for (const key of secrets) {
      expect(requestUrls.filter((u) => u.includes(key))).toEqual([]);
      expect(consoleLines.filter((l) => l.includes(key))).toEqual([]);
    }
    expect(pageErrors).toEqual([]);
  });
});
