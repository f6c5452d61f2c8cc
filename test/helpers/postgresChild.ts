/**
 * For a child process that runs PostgreSQL for a test: stops it, then exits (0 once
 * stopped, 1 if the stop failed), on any of `signals` or when the parent is gone (its
 * stdin ends); then prints `ready` for the parent.
 */
export function serveUntilStopped(
  pg: { stop(): Promise<void> },
  ready: string,
  signals: NodeJS.Signals[],
): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    pg.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const s of signals) process.on(s, stop);
  process.stdin.on('end', stop); // the parent is gone
  process.stdin.resume();
  process.stdout.write(`${ready}\n`);
}
