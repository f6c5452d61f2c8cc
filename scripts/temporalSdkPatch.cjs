// The Temporal SDK patch: two performance edits to the workflow sandbox of
// @temporalio/worker (the exact version below), applied to node_modules by
// scripts/patch-temporal-sdk.mjs after every install. Nothing but Node's own modules
// (CommonJS, so the tests can load it). Why, with the figures: docs/performance.md,
// "What moved them this session (b83f1c4): the Temporal SDK patch".
//
//   1. One watchdog per workflow activation instead of one per call into the sandbox.
//      Node runs a `vm` script with a `timeout` by starting a thread with its own event
//      loop, and joining it afterwards (nodejs/node#47739, open since 2023): ~150-190 µs
//      of CPU on this box. The SDK calls into the sandbox three times per activation
//      (activate, unblock conditions, conclude), each with the deadlock timeout
//      (`isolateExecutionTimeout`, 5 s). Patched: the whole synchronous part of an
//      activation runs under one timed scope; the calls inside it carry no timeout of
//      their own. Node supports the nesting (a termination caused by an outer scope
//      passes through the inner calls to it). The deadlock limit then bounds the whole
//      activation (the SDK's host work between the calls included), not each call.
//      Query activations and Bun keep the SDK's timeout per call. A workflow that loops
//      forever still fails its workflow task with "Script execution timed out after
//      5000ms", as before: test/integration/workflowDeadlock.test.ts.
//   2. The promise hook that feeds the stack-trace query compiled a new function with
//      `Function(...)` up to three times for every promise the sandbox creates (to reach
//      the sandbox's globals). Patched: one compiled function per realm, kept in a
//      WeakMap, called each time; what it returns is read at call time, as before.
//
// Each edit must match the SDK's text exactly once; anything else stops the install with
// a message saying what to do, so an SDK upgrade cannot silently drop (or half-apply) it.
'use strict';
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const SDK_VERSION = '1.24.0';
const MARKER = 'satmachine patch (scripts/temporalSdkPatch.cjs)';

const VM_DIR = join('node_modules', '@temporalio', 'worker', 'lib', 'workflow');

/** @type {{ file: string, find: string, replace: string }[]} */
const EDITS = [
  {
    file: 'reusable-vm.js',
    find: 'const callIntoVmScript = new node_vm_1.default.Script(`__TEMPORAL_CALL_INTO_SCOPE()`);\n',
    replace:
      'const callIntoVmScript = new node_vm_1.default.Script(`__TEMPORAL_CALL_INTO_SCOPE()`);\n' +
      `// ${MARKER}: one watchdog per activation\n` +
      "// the timed scope has a context of its own: the host's globalThis is not always the realm\n" +
      "// this module was loaded in (a test runner's sandbox)\n" +
      'const timedActivationContext = node_vm_1.default.createContext({});\n' +
      'const timedActivationScript = new node_vm_1.default.Script(`__SATMACHINE_TIMED_ACTIVATION__()`);\n' +
      'let activationWatchdogActive = false;\n' +
      'exports.SATMACHINE_ONE_WATCHDOG_PER_ACTIVATION = true;\n',
  },
  {
    file: 'reusable-vm.js',
    find:
      '                    return callIntoVmScript.runInContext(context, {\n' +
      '                        timeout: isolateExecutionTimeoutMs,\n' +
      '                        displayErrors: true,\n' +
      '                    });\n',
    replace:
      `                    // ${MARKER}: inside an activation's timed scope, no watchdog of its own\n` +
      '                    return callIntoVmScript.runInContext(context, activationWatchdogActive\n' +
      '                        ? { displayErrors: true }\n' +
      '                        : { timeout: isolateExecutionTimeoutMs, displayErrors: true });\n',
  },
  {
    file: 'reusable-vm.js',
    find: '        const newVM = new ReusableVMWorkflow(options.info.runId, context, activator, workflowModule);\n',
    replace:
      '        const newVM = new ReusableVMWorkflow(options.info.runId, context, activator, workflowModule);\n' +
      `        newVM.isolateExecutionTimeoutMs = isolateExecutionTimeoutMs; // ${MARKER}\n`,
  },
  {
    file: 'reusable-vm.js',
    find: 'class ReusableVMWorkflow extends vm_shared_1.BaseVMWorkflow {\n',
    replace:
      'class ReusableVMWorkflow extends vm_shared_1.BaseVMWorkflow {\n' +
      `    // ${MARKER}: the synchronous part of an activation (every call into the sandbox:\n` +
      '    // activate, unblock conditions, conclude) runs under one watchdog. A timeout there\n' +
      '    // terminates it midway, skipping every catch on the way out, and ends here, with the\n' +
      "    // failed completion the SDK's own catch would have made.\n" +
      '    isolateExecutionTimeoutMs;\n' +
      '    activate(activation) {\n' +
      '        const timeout = this.isolateExecutionTimeoutMs;\n' +
      "        // queries (never mixed with other jobs) and Bun keep the SDK's own timeout per call\n" +
      '        if (activationWatchdogActive ||\n' +
      '            timeout === undefined ||\n' +
      '            bun_1.isBun ||\n' +
      '            activation.jobs?.some(({ queryWorkflow }) => queryWorkflow != null))\n' +
      '            return super.activate(activation);\n' +
      '        let pending;\n' +
      '        timedActivationContext.__SATMACHINE_TIMED_ACTIVATION__ = () => {\n' +
      '            pending = super.activate(activation);\n' +
      '        };\n' +
      '        activationWatchdogActive = true;\n' +
      '        try {\n' +
      '            timedActivationScript.runInContext(timedActivationContext, { timeout, displayErrors: true });\n' +
      '        }\n' +
      '        catch (err) {\n' +
      '            pending?.catch(() => undefined); // the limit hit as the activation returned\n' +
      '            return Promise.resolve({\n' +
      '                runId: this.activator.info.runId,\n' +
      '                failed: { failure: this.activator.errorToFailure(err) },\n' +
      '            });\n' +
      '        }\n' +
      '        finally {\n' +
      '            activationWatchdogActive = false;\n' +
      '            delete timedActivationContext.__SATMACHINE_TIMED_ACTIVATION__;\n' +
      '        }\n' +
      '        return pending;\n' +
      '    }\n',
  },
  {
    file: 'reusable-vm.js',
    // the timed scope now also covers the host's work before the first call into the
    // sandbox: a limit hit while the globals are being swapped must not let the next call
    // save the half-swapped globals as the previous workflow's
    find:
      '          globalThis.__TEMPORAL_BAG_HOLDER__.bag = Object.getOwnPropertyDescriptors(globalThis);\n' +
      '        }\n',
    replace:
      '          globalThis.__TEMPORAL_BAG_HOLDER__.bag = Object.getOwnPropertyDescriptors(globalThis);\n' +
      `          globalThis.__TEMPORAL_BAG_HOLDER__ = undefined; // ${MARKER}\n` +
      '        }\n',
  },
  {
    file: 'vm-shared.js',
    find:
      'function getActivator(promise) {\n' +
      '    // Access the global scope associated with the promise (unique per workflow - vm.context)\n' +
      '    // See for reference https://github.com/patriksimek/vm2/issues/32\n' +
      '    const ctor = promise.constructor.constructor;\n' +
      "    return ctor('return globalThis.__TEMPORAL_ACTIVATOR__')();\n" +
      '}\n',
    replace:
      `// ${MARKER}: one compiled function per realm, called each time\n` +
      'const realmReaders = new WeakMap();\n' +
      'function realmReader(ctor, source) {\n' +
      '    let readers = realmReaders.get(ctor);\n' +
      '    if (readers === undefined) {\n' +
      '        readers = new Map();\n' +
      '        realmReaders.set(ctor, readers);\n' +
      '    }\n' +
      '    let read = readers.get(source);\n' +
      '    if (read === undefined) {\n' +
      '        read = ctor(source);\n' +
      '        readers.set(source, read);\n' +
      '    }\n' +
      '    return read;\n' +
      '}\n' +
      'function getActivator(promise) {\n' +
      '    // Access the global scope associated with the promise (unique per workflow - vm.context)\n' +
      '    // See for reference https://github.com/patriksimek/vm2/issues/32\n' +
      '    const ctor = promise.constructor.constructor;\n' +
      "    return realmReader(ctor, 'return globalThis.__TEMPORAL_ACTIVATOR__')();\n" +
      '}\n',
  },
  {
    file: 'vm-shared.js',
    find: "                    const ErrorCtor = fn('return globalThis.Error')();\n",
    replace: `                    const ErrorCtor = realmReader(fn, 'return globalThis.Error')(); // ${MARKER}\n`,
  },
];

/**
 * Applies EDITS under `root` (the project's directory). Returns 'applied' or 'already';
 * throws, saying what to do, when the SDK is not the version the edits were written for or
 * its text does not match.
 */
function patchTemporalSdk(root) {
  const pkgFile = join(root, 'node_modules', '@temporalio', 'worker', 'package.json');
  if (!existsSync(pkgFile)) throw new Error(`${pkgFile} is missing: run \`npm ci\` first.`);
  const version = JSON.parse(readFileSync(pkgFile, 'utf8')).version;
  if (version !== SDK_VERSION) {
    throw new Error(
      `@temporalio/worker is ${version}, and scripts/temporalSdkPatch.cjs was written for ${SDK_VERSION}. ` +
        'Check whether the new SDK still starts a watchdog per call into the workflow sandbox, then update ' +
        'the edits and SDK_VERSION there (or remove them if they are no longer needed).',
    );
  }
  const files = [...new Set(EDITS.map((e) => e.file))];
  const texts = new Map(files.map((f) => [f, readFileSync(join(root, VM_DIR, f), 'utf8')]));
  const patched = files.filter((f) => texts.get(f).includes(MARKER));
  if (patched.length === files.length) return 'already';
  if (patched.length > 0) {
    throw new Error(
      `the Temporal SDK is half patched (${patched.join(', ')} only): reinstall it with \`rm -rf node_modules && npm ci\`.`,
    );
  }
  for (const edit of EDITS) {
    const text = texts.get(edit.file);
    const at = text.indexOf(edit.find);
    if (at < 0 || text.indexOf(edit.find, at + 1) >= 0) {
      throw new Error(
        `${join(VM_DIR, edit.file)} does not contain exactly once the text an edit of ` +
          'scripts/temporalSdkPatch.cjs replaces: reinstall the SDK (`rm -rf node_modules && npm ci`); ' +
          'if that does not help, update the edit to the SDK text.\n--- expected:\n' +
          edit.find,
      );
    }
    texts.set(edit.file, text.slice(0, at) + edit.replace + text.slice(at + edit.find.length));
  }
  for (const [f, text] of texts) writeFileSync(join(root, VM_DIR, f), text);
  return 'applied';
}

module.exports = { SDK_VERSION, MARKER, EDITS, patchTemporalSdk };
