import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds and resident memory of a process and all its descendants, from /proc. */
export interface TreeSample {
  cpuSeconds: number;
  rssBytes: number;
}

const TICKS = 100; // USER_HZ on Linux

function readStat(pid: number): { ppid: number; cpu: number; rss: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const rss = Number(fields[21]) * 4096;
    return { ppid, cpu, rss };
  } catch {
    return null;
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Samples named process trees over time: CPU used since start and peak RSS. */
export class ProcessMonitor {
  private readonly start = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly roots: () => Record<string, number | undefined>) {}

  private sample(): void {
    const stats = new Map<number, { ppid: number; cpu: number; rss: number }>();
    for (const pid of allPids()) {
      const s = readStat(pid);
      if (s) stats.set(pid, s);
    }
    const children = new Map<number, number[]>();
    for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
    const roots = this.roots();
    const rootPids = new Set(Object.values(roots).filter((p): p is number => !!p));
    for (const [name, root] of Object.entries(roots)) {
      if (!root || !stats.has(root)) continue;
      let cpu = 0;
      let rss = 0;
      const stack = [root];
      while (stack.length) {
        const pid = stack.pop()!;
        const s = stats.get(pid);
        if (!s) continue;
        cpu += s.cpu;
        rss += s.rss;
        // another monitored part below this one is counted on its own
        stack.push(...(children.get(pid) ?? []).filter((c) => !rootPids.has(c)));
      }
      if (!this.start.has(name)) this.start.set(name, cpu);
      this.last.set(name, cpu);
      this.peak.set(name, Math.max(this.peak.get(name) ?? 0, rss));
    }
  }

  begin(intervalMs = 250): void {
    this.start.clear();
    this.peak.clear();
    this.last.clear();
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  end(): Record<string, { cpu_seconds: number; peak_rss_mb: number }> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const out: Record<string, { cpu_seconds: number; peak_rss_mb: number }> = {};
    for (const [name, cpu] of this.last) {
      out[name] = {
        cpu_seconds: Math.round((cpu - (this.start.get(name) ?? cpu)) * 100) / 100,
        peak_rss_mb: Math.round((this.peak.get(name) ?? 0) / 1024 / 1024),
      };
    }
    return out;
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
