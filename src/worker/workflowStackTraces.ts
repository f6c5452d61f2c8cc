/**
 * Stack frames V8 records in the workflow sandbox (`Error.stackTraceLimit` there; Node's
 * default is 10). Applied by ./workflowSandbox.ts, recorded by the bench.
 *
 * Why 0: the SDK tracks every promise a workflow creates for its stack-trace query (the
 * Temporal UI's "Stack Trace" tab): a promise hook builds an Error, then formats and
 * source-maps its frames, for each one. With 10 frames that was half the workflow
 * thread's CPU in a 10,000-LP fan-out (about 0.4 ms per leg, measured in
 * docs/performance.md); with none, the hook costs almost nothing.
 *
 * What it costs: the Stack Trace tab lists the pending promises without their frames, and
 * an error thrown inside workflow code carries its message but no frames. Every
 * workflow failure this code raises on purpose says what happened in its message. To see
 * frames (a bug in workflow code), set this to 10 and rebuild the bundle; replaying the
 * failed history (`Worker.runReplayHistory`, test/integration/replay.test.ts) then shows
 * where. The setting changes no command: histories replay alike under any value.
 */
export const WORKFLOW_STACK_TRACE_LIMIT = 0;
