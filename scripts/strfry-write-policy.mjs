#!/usr/bin/env node
// strfry write-policy plugin for a satmachine fleet (docs/deploy.md, "Relays"):
// accepts only events of the protocol's kinds signed by a listed key. strfry sends
// one JSON line per incoming event on stdin ({"type":"new","event":{…},…}) and
// reads one line back ({"id","action","msg"}). The keys file holds one hex public
// key a line (every machine and every operator; `#` starts a comment); it is re-read
// whenever it changes, so adding a machine needs no restart.
// Only Node's own modules: copy this file next to strfry and set
// relay.writePolicy.plugin to its path (and SATMACHINE_KEYS_FILE if not the default).
import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';

const KEYS_FILE = process.env.SATMACHINE_KEYS_FILE ?? '/etc/strfry/satmachine-keys.txt';
const KINDS = new Set([21000, 30078, 30079]);

let keys = new Set();
let loaded = '';

/** The listed keys, re-read when the file's modification time or size changes. */
function currentKeys() {
  const st = statSync(KEYS_FILE);
  const stamp = `${st.mtimeMs}:${st.size}`;
  if (stamp !== loaded) {
    keys = new Set(
      readFileSync(KEYS_FILE, 'utf8')
        .split('\n')
        .map((l) => l.replace(/#.*/, '').trim().toLowerCase())
        .filter((l) => /^[0-9a-f]{64}$/.test(l)),
    );
    loaded = stamp;
  }
  return keys;
}

function decide(msg) {
  const event = msg.event ?? {};
  const reject = (why) => ({ id: event.id, action: 'reject', msg: `blocked: ${why}` });
  if (!KINDS.has(event.kind)) return reject(`kind ${event.kind} is not accepted by this relay`);
  let allowed;
  try {
    allowed = currentKeys();
  } catch (err) {
    process.stderr.write(`satmachine write policy: cannot read ${KEYS_FILE}: ${err.message}\n`);
    return { id: event.id, action: 'reject', msg: 'error: the relay cannot read its key list' };
  }
  if (!allowed.has(event.pubkey)) return reject('pubkey is not allowed to publish to this relay');
  return { id: event.id, action: 'accept' };
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    process.stderr.write('satmachine write policy: a line that is not JSON was ignored\n');
    continue;
  }
  // older strfry versions also send "lookback" messages, which take no answer
  if (msg.type !== 'new') continue;
  process.stdout.write(`${JSON.stringify(decide(msg))}\n`);
}
