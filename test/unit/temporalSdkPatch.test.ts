import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// a plain CommonJS script, without type declarations
const sdkPatch: unknown = require('../../scripts/temporalSdkPatch.cjs');

interface Edit {
  file: string;
  find: string;
  replace: string;
}
const { EDITS, MARKER, SDK_VERSION, patchTemporalSdk } = sdkPatch as {
  EDITS: Edit[];
  MARKER: string;
  SDK_VERSION: string;
  patchTemporalSdk: (root: string) => 'applied' | 'already';
};

/**
 * How the Temporal SDK patch is applied (scripts/temporalSdkPatch.cjs), on a stand-in for
 * node_modules/@temporalio/worker holding exactly the texts the edits replace. What the
 * patched SDK does is test/integration/workflowDeadlock.test.ts.
 */
describe('the Temporal SDK patch (scripts/temporalSdkPatch.cjs)', () => {
  let root: string;
  const vmDir = () => join(root, 'node_modules', '@temporalio', 'worker', 'lib', 'workflow');
  const files = [...new Set(EDITS.map((e) => e.file))];
  const read = (f: string) => readFileSync(join(vmDir(), f), 'utf8');

  function standIn(version = SDK_VERSION, drop?: Edit) {
    mkdirSync(vmDir(), { recursive: true });
    writeFileSync(
      join(root, 'node_modules', '@temporalio', 'worker', 'package.json'),
      JSON.stringify({ version }),
    );
    for (const f of files) {
      const parts = EDITS.filter((e) => e.file === f && e !== drop).map((e) => e.find);
      writeFileSync(join(vmDir(), f), `// head\n${parts.join('// between\n')}// tail\n`);
    }
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sdk-patch-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('replaces each text once, and a second run changes nothing', () => {
    standIn();
    expect(patchTemporalSdk(root)).toBe('applied');
    const after = new Map(files.map((f) => [f, read(f)]));
    for (const e of EDITS) {
      expect(after.get(e.file)).toContain(e.replace);
      expect(after.get(e.file)).toContain(MARKER);
    }
    expect(patchTemporalSdk(root)).toBe('already');
    for (const f of files) expect(read(f)).toBe(after.get(f));
  });

  it('refuses another SDK version, saying what to check', () => {
    standIn('1.99.0');
    expect(() => patchTemporalSdk(root)).toThrow(/is 1\.99\.0.*written for 1\.24\.0/);
    for (const f of files) expect(read(f)).not.toContain(MARKER);
  });

  it('refuses a text it does not find, and writes nothing', () => {
    standIn(SDK_VERSION, EDITS[EDITS.length - 1]);
    expect(() => patchTemporalSdk(root)).toThrow(/does not contain exactly once/);
    for (const f of files) expect(read(f)).not.toContain(MARKER);
  });

  it('refuses a half-patched SDK', () => {
    standIn();
    patchTemporalSdk(root);
    const [first, second] = files;
    writeFileSync(
      join(vmDir(), second!),
      EDITS.filter((e) => e.file === second)
        .map((e) => e.find)
        .join(''),
    );
    expect(() => patchTemporalSdk(root)).toThrow(
      new RegExp(`half patched \\(${first!.replace('.', '\\.')} only\\)`),
    );
  });

  it('is what the installed SDK carries', () => {
    for (const f of files) {
      const text = readFileSync(
        join(__dirname, '..', '..', 'node_modules', '@temporalio', 'worker', 'lib', 'workflow', f),
        'utf8',
      );
      expect(text).toContain(MARKER);
    }
  });
});
