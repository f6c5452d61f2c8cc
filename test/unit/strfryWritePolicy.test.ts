import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PLUGIN = join(__dirname, '..', '..', 'scripts', 'strfry-write-policy.mjs');
const key = (c: string) => c.repeat(64);

/**
 * The strfry write-policy plugin of docs/deploy.md, driven over stdin/stdout as
 * strfry's plugin documentation describes (strfry itself cannot be built here).
 */
describe('strfry write-policy plugin (scripts/strfry-write-policy.mjs)', () => {
  let dir: string;
  let keysFile: string;
  let plugin: ReturnType<typeof spawn>;
  let answers: AsyncIterator<string>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strfry-policy-'));
    keysFile = join(dir, 'keys.txt');
    writeFileSync(keysFile, `# machines\n${key('a')}\n${key('B')}  # an operator, upper case\nnot a key\n`);
    plugin = spawn(process.execPath, [PLUGIN], {
      env: { ...process.env, SATMACHINE_KEYS_FILE: keysFile },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    answers = createInterface({ input: plugin.stdout! })[Symbol.asyncIterator]();
  });
  afterAll(async () => {
    plugin.stdin!.end();
    await new Promise((r) => plugin.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (event: Record<string, unknown>, type = 'new') => {
    plugin.stdin!.write(
      `${JSON.stringify({ type, event, receivedAt: 1, sourceType: 'IP4', sourceInfo: '127.0.0.1' })}\n`,
    );
    return JSON.parse((await answers.next()).value as string);
  };

  it('accepts the protocol kinds from listed keys, whatever the case in the file', async () => {
    for (const kind of [21000, 30078, 30079])
      expect(await ask({ id: `e${kind}`, pubkey: key('a'), kind })).toEqual({
        id: `e${kind}`,
        action: 'accept',
      });
    expect(await ask({ id: 'op', pubkey: key('b'), kind: 30078 })).toEqual({ id: 'op', action: 'accept' });
  });

  it('rejects unlisted keys and other kinds with a NIP-01 reason; ignores lookback and garbage lines', async () => {
    plugin.stdin!.write('not json\n');
    plugin.stdin!.write(
      `${JSON.stringify({ type: 'lookback', event: { id: 'old', pubkey: key('c'), kind: 1 } })}\n`,
    );
    expect(await ask({ id: 'x', pubkey: key('c'), kind: 21000 })).toEqual({
      id: 'x',
      action: 'reject',
      msg: 'blocked: pubkey is not allowed to publish to this relay',
    });
    expect(await ask({ id: 'y', pubkey: key('a'), kind: 1 })).toEqual({
      id: 'y',
      action: 'reject',
      msg: 'blocked: kind 1 is not accepted by this relay',
    });
  });

  it('picks up a key added to the file without a restart', async () => {
    expect((await ask({ id: 'n1', pubkey: key('d'), kind: 30078 })).action).toBe('reject');
    appendFileSync(keysFile, `${key('d')}\n`);
    expect(await ask({ id: 'n2', pubkey: key('d'), kind: 30078 })).toEqual({ id: 'n2', action: 'accept' });
  });

  it('rejects everything, without dying, while the key file cannot be read', async () => {
    rmSync(keysFile);
    expect(await ask({ id: 'z', pubkey: key('a'), kind: 21000 })).toEqual({
      id: 'z',
      action: 'reject',
      msg: 'error: the relay cannot read its key list',
    });
    writeFileSync(keysFile, `${key('a')}\n`);
    expect((await ask({ id: 'z2', pubkey: key('a'), kind: 21000 })).action).toBe('accept');
  });
});
