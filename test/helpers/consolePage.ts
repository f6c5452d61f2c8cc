import type { Page } from 'playwright-core';
import { runInstallScript } from './installScript';

/** Debian's chromium (scripts/install-chromium.sh); a failure fails the suite, never a silent skip. */
export const chromiumPath = (): string =>
  runInstallScript(
    'install-chromium.sh',
    "chromium is missing and could not be installed, so the console's browser tests cannot run.",
  );

/** The page's level-1 heading of this name. */
export const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name });

/** Signs in to the console at `consoleUrl` with an API key; resolves once `landing` shows. */
export async function signInToConsole(
  page: Page,
  consoleUrl: string,
  key: string,
  landing: string | RegExp,
): Promise<void> {
  await page.goto(`${consoleUrl}/`);
  await heading(page, 'satmachine console').waitFor();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(page, landing).waitFor();
}

/** Follows the link of this name in the main navigation. */
export const nav = (page: Page, name: string) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
