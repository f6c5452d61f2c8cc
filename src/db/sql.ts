/**
 * Builds `SET a = $n, b = $m` from a patch, taking only whitelisted columns whose
 * value is not undefined. Column names never come from input.
 */
export function buildSet(
  patch: Record<string, unknown>,
  whitelist: readonly string[],
  params: unknown[],
): { clause: string; count: number } {
  const parts: string[] = [];
  for (const column of whitelist) {
    const value = patch[column];
    if (value === undefined) continue;
    params.push(value);
    parts.push(`${column} = $${params.length}`);
  }
  return { clause: parts.join(', '), count: parts.length };
}
