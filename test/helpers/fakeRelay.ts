import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { matchFilter, type Filter } from 'nostr-tools/filter';
import type { SignedEvent } from '../../src/contract';
import { rawText } from '../../src/nostr/relayClient';

export interface FakeRelay {
  url: string;
  /** keeps an event as is (no verification: this relay may serve forgeries) */
  store(event: SignedEvent): void;
  /** sends an event as is to every live subscription it matches (stored or not) */
  broadcast(event: unknown): void;
  /** REQs answered so far (for the record) */
  queries: number;
  close(): Promise<void>;
}

/**
 * A relay the test controls: NIP-01 over a real WebSocket, events in memory, no
 * signature checks (it may serve a bad copy of an event), and a per-filter cap like
 * strfry's (`maxLimit`, newest first), announced in its NIP-11 document as
 * `limitation.max_limit` unless `announce` is false.
 */
export async function startFakeRelay(opts: { maxLimit: number; announce?: boolean }): Promise<FakeRelay> {
  const events: SignedEvent[] = [];
  const subs = new Map<WebSocket, Map<string, Filter[]>>();
  const http: Server = createServer((req, res) => {
    if (req.headers.accept?.includes('application/nostr+json')) {
      res.writeHead(200, { 'content-type': 'application/nostr+json' });
      res.end(
        JSON.stringify({
          name: 'test relay',
          supported_nips: [1, 11],
          limitation: opts.announce === false ? {} : { max_limit: opts.maxLimit },
        }),
      );
      return;
    }
    res.writeHead(200);
    res.end('test relay\n');
  });
  const wss = new WebSocketServer({ server: http });
  const relay: FakeRelay = {
    url: '',
    queries: 0,
    store: (e) => {
      events.push(e);
    },
    broadcast: (e) => {
      for (const [socket, mine] of subs) {
        for (const [id, filters] of mine) {
          if (filters.some((f) => matchFilter(f, e as SignedEvent)))
            socket.send(JSON.stringify(['EVENT', id, e]));
        }
      }
    },
    close: async () => {
      for (const s of subs.keys()) s.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
  wss.on('connection', (socket) => {
    const mine = new Map<string, Filter[]>();
    subs.set(socket, mine);
    socket.on('close', () => subs.delete(socket));
    socket.on('message', (data) => {
      const [verb, id, ...rest] = JSON.parse(rawText(data)) as [string, string, ...unknown[]];
      if (verb === 'CLOSE') mine.delete(id);
      else if (verb === 'EVENT') {
        const e = id as unknown as SignedEvent;
        events.push(e);
        relay.broadcast(e);
        socket.send(JSON.stringify(['OK', e.id, true, '']));
      } else if (verb === 'REQ') {
        relay.queries++;
        const filters = rest as Filter[];
        mine.set(id, filters);
        const out = new Map<string, SignedEvent>();
        for (const f of filters) {
          if (f.limit === 0) continue;
          const cap = Math.min(f.limit ?? opts.maxLimit, opts.maxLimit);
          const found = events
            .filter((e) => matchFilter(f, e))
            .sort((a, b) => b.created_at - a.created_at || a.id.localeCompare(b.id))
            .slice(0, cap);
          for (const e of found) out.set(e.id, e);
        }
        for (const e of out.values()) socket.send(JSON.stringify(['EVENT', id, e]));
        socket.send(JSON.stringify(['EOSE', id]));
      }
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  relay.url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return relay;
}
