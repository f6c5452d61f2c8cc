// The API key lives in this tab's sessionStorage only: never in a URL, localStorage,
// a cookie or a log. It is gone when the tab closes or the user signs out.
const KEY = 'satmachine.apiKey';

export function apiKey(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function rememberApiKey(key: string): void {
  window.sessionStorage.setItem(KEY, key);
}

export function forgetApiKey(): void {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    /* storage unavailable: nothing to forget */
  }
}
