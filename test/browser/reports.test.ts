import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath, heading, nav, signInToConsole } from '../helpers/consolePage';
import { buildConsole, consoleBuildNeeded } from '../../src/cli/consoleBuild';
import { insertWallet } from '../../src/db/ledger';
import type { SettlementRow } from '../../src/db/settlements';
import { startApi, type TestApi } from '../helpers/api';
import { csvRecords } from '../helpers/csv';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  setDefaultSplits,
  type Lp,
  type Operator,
} from '../helpers/fixtures';
import { awaitSettled, sendSettlement } from '../helpers/settle';
import { freshDatabase, temporalClient, testWorker } from '../helpers/stack';

// page.evaluate callbacks run in the page; this file is compiled without the DOM lib
declare const document: any;

const ROOT = join(__dirname, '..', '..');
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');

/** Count of canvases under `selector` that have something drawn on them (not all transparent). */
const drawnCanvases = (page: Page, selector: string) =>
  page.evaluate((sel: string) => {
    let n = 0;
    for (const c of document.querySelectorAll(`${sel} canvas`)) {
      if (!c.width || !c.height) continue;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < data.length; i += 4) {
        if (data[i] !== 0) {
          n++;
          break;
        }
      }
    }
    return n;
  }, selector);

/** The reports page and the LP statement in chromium: charts drawn by uPlot, totals, a CSV download. */
describe('web console: reports (chromium)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { stop: () => Promise<void> };
  let api: TestApi;
  let context: BrowserContext;
  let userDataDir: string;
  let platform: Awaited<ReturnType<typeof createSuper>>;
  let operator: Operator;
  let alice: Lp;
  let settled: SettlementRow[];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const executablePath = chromiumPath();
    if (consoleBuildNeeded()) await buildConsole({ info: () => undefined, error: () => undefined });
    mkdirSync(SHOTS, { recursive: true });
    db = await freshDatabase();
    temporal = await temporalClient();
    const w = await testWorker({ pool: db.pool });
    worker = w.start();
    api = await startApi({ pool: db.pool, temporal: temporal.client, taskQueue: w.taskQueue });
    platform = await createSuper(db.pool);
    operator = await createOperator(db.pool, 'Report Operator');
    await setDefaultSplits(db.pool, operator, [
      { target: (await insertWallet(db.pool, operator.id, 'revenue')).id, fraction: '1', label: 'revenue' },
    ]);
    const machine = await createMachine(db.pool, operator, { name: 'Station ATM' });
    alice = await createLp(db.pool, machine, { name: 'alice', depositCents: 200_00 });
    settled = [];
    for (const [wireSats, feeSats, fiat] of [
      [50_000, 2_500, '47.50'],
      [30_000, 1_500, '28.50'],
    ] as const) {
      const hash = await sendSettlement(db.pool, temporal.client, w.taskQueue, machine, operator, {
        wireSats,
        feeSats,
        fiat,
      });
      settled.push(await awaitSettled(db.pool, temporal.client, hash));
    }
    userDataDir = mkdtempSync(join(process.env.SATMACHINE_TEST_DIR ?? tmpdir(), 'chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    context.setDefaultTimeout(20_000);
    context.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(e.message)));
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    await api?.close();
    await worker?.stop();
    await temporal?.close();
    await db?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  const signIn = (page: Page, key: string, landing: string | RegExp) =>
    signInToConsole(page, api.url, key, landing);

  it('the operator reports page draws volume, revenue and LP balance charts, and exports a CSV', async () => {
    const page = await context.newPage();
    await signIn(page, operator.apiKey, 'Fleet');
    await nav(page, 'Reports');
    await heading(page, 'Reports').waitFor();
    expect(
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Reports' })
        .getAttribute('aria-current'),
    ).toBe('page');
    await page.getByTestId('volume-totals').getByText('2 settlements').waitFor();
    // three uPlot charts: volume, revenue, the LP's balance
    await page.locator('.uplot').nth(2).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.uplot canvas').length >= 3);
    expect(await drawnCanvases(page, '.chart')).toBe(3);
    const captions = await page.locator('figure.chart figcaption').allTextContents();
    expect(captions).toEqual([
      expect.stringContaining('Volume per day'),
      expect.stringContaining('Revenue per day'),
      expect.stringContaining('LP balance over time'),
    ]);
    expect(await page.locator('.u-legend').first().textContent()).toContain('Cash-out');
    expect(await page.locator('.u-legend').nth(1).textContent()).toContain('Platform fee');
    const totals = await page.getByTestId('volume-totals').textContent();
    expect(totals).toContain('80,000 sats for 76.00 USD');
    // the settlements of the range, a row each
    const table = page.getByRole('region', { name: 'Settlements in the range' }).getByRole('table');
    expect(await table.locator('tbody tr').count()).toBe(2);
    // one page: the pager says so and goes neither way
    const pager = page.getByRole('navigation', { name: 'Settlement pages' });
    await pager.getByText('Page 1', { exact: true }).waitFor();
    expect(await pager.getByRole('button', { name: 'Earlier' }).isDisabled()).toBe(true);
    expect(await pager.getByRole('button', { name: 'Later' }).isDisabled()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'operator-reports.png'), fullPage: true });

    // the CSV export of the range matches the settlements, to the sat
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download settlements CSV' }).click(),
    ]);
    const rows = csvRecords(readFileSync(await download.path(), 'utf8'));
    expect(rows.map((r) => [r.payment_hash, Number(r.wire_sats), r.fiat_amount, r.fiat_code])).toEqual(
      settled.map((s) => [s.payment_hash, s.wire_sats, s.fiat_amount, 'USD']),
    );

    // a range that ends before it starts is refused before it is sent
    await page.getByLabel('From (UTC)').fill('2026-03-10');
    await page.getByLabel('To (UTC, inclusive)').fill('2026-03-01');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText('must be on or after the first day').waitFor();

    // at phone width the charts fit the screen
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => {
      const c = document.querySelector('.uplot');
      return c && c.getBoundingClientRect().width <= 390;
    });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, 'operator-reports-phone.png'), fullPage: true });
    await page.close();
  });

  it('the LP statement shows the balance over time and reconciles with the balance', async () => {
    const page = await context.newPage();
    await signIn(page, alice.apiKey, /Balances|Your balances/);
    await nav(page, 'Statement');
    await heading(page, 'Statement').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.uplot canvas').length >= 1);
    expect(await drawnCanvases(page, '.chart')).toBe(1);
    const balance = (await api.call('GET', '/api/v1/lp/balances', alice.apiKey)).body[0];
    expect(await page.getByTestId('statement-remaining').textContent()).toBe(
      `${balance.remaining_balance} USD`,
    );
    await page.screenshot({ path: join(SHOTS, 'lp-statement.png'), fullPage: true });
    await page.close();
  });

  it('the platform reports across operators', async () => {
    const page = await context.newPage();
    await signIn(page, platform.apiKey, /Platform/);
    await nav(page, 'Reports');
    await heading(page, 'Reports').waitFor();
    await page.getByTestId('volume-totals').getByText('2 settlements').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.uplot canvas').length >= 2);
    expect(await drawnCanvases(page, '.chart')).toBe(2);
    await page.getByLabel('Operator', { exact: true }).selectOption({ label: 'Report Operator' });
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByTestId('volume-totals').getByText('2 settlements').waitFor();
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
