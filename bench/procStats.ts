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
    // utime + stime, plus cutime + cstime: the CPU of children it reaped (PostgreSQL backends that
    // exited between two samples would otherwise drop out of the tree's sum)
    const cpu = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS;
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

/** CPU seconds the whole box spent busy since boot (all cores), from /proc/stat. */
function boxBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / TICKS;
  } catch {
    return NaN;
  }
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

/** What else ran on the box while a figure was measured (other engineers' builds and tests). */
export interface BoxLoad {
  wall_seconds: number;
  /** busy CPU-seconds of the whole box (both cores) */
  box_busy_cpu_seconds: number;
  /** of which not ours: the load from other processes on the box */
  others_cpu_seconds: number;
  loadavg_1m_at_end: number;
}

/** Samples named process trees over time: CPU used since start and peak RSS. */
export class ProcessMonitor {
  private readonly start = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private boxStart = 0;
  private wallStart = 0;
  /** the box's load over the last begin()…end() */
  box: BoxLoad | null = null;

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
    // the load generator's own garbage is collected before a measured run (bench/run.ts runs
    // with --expose-gc): its major GC would otherwise land inside the run, its marking and
    // sweeping threads taking the cores from the stack under test
    (globalThis as { gc?: () => void }).gc?.();
    this.start.clear();
    this.peak.clear();
    this.last.clear();
    this.boxStart = boxBusySeconds();
    this.wallStart = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  end(): Record<string, { cpu_seconds: number; peak_rss_mb: number }> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const out: Record<string, { cpu_seconds: number; peak_rss_mb: number }> = {};
    let ours = 0;
    for (const [name, cpu] of this.last) {
      ours += cpu - (this.start.get(name) ?? cpu);
      out[name] = {
        cpu_seconds: Math.round((cpu - (this.start.get(name) ?? cpu)) * 100) / 100,
        peak_rss_mb: Math.round((this.peak.get(name) ?? 0) / 1024 / 1024),
      };
    }
    const busy = boxBusySeconds() - this.boxStart;
    this.box = {
      wall_seconds: Math.round((Date.now() - this.wallStart) / 100) / 10,
      box_busy_cpu_seconds: Math.round(busy * 10) / 10,
      others_cpu_seconds: Math.round(Math.max(0, busy - ours) * 10) / 10,
      loadavg_1m_at_end: loadAverage()[0] ?? NaN,
    };
    return out;
  }
}

/** A figure measured several times: every run, the median and the spread. */
export function repeated(runs: number[]): {
  runs: number[];
  median: number;
  min: number;
  max: number;
  spread_pct: number;
} {
  const s = runs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const med = s.length
    ? s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
    : NaN;
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    runs: runs.map(r),
    median: r(med),
    min: r(s[0] ?? NaN),
    max: r(s[s.length - 1] ?? NaN),
    // (max - min) / median: how far apart the runs were
    spread_pct: s.length > 1 ? Math.round(((s[s.length - 1]! - s[0]!) / med) * 1000) / 10 : 0,
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
