/**
 * Runs once in the worker's workflow sandbox, before any workflow: `bundleWorkflows`
 * bundles it as a preload module (the SDK evaluates those when it builds its reusable V8
 * context, before it freezes the built-ins). Not workflow code: it sets how the sandbox
 * itself behaves.
 */
import { WORKFLOW_STACK_TRACE_LIMIT } from './workflowStackTraces';

Error.stackTraceLimit = WORKFLOW_STACK_TRACE_LIMIT;
