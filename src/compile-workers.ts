// Many environments on several cores. This thread and worker threads (each
// running the CLI's own entry, bin/portcullis.js, code cache and all) take
// the profiles one by one from a shared counter and compile them; the steps
// are put back in profile order and assembled as compileMany() assembles
// its own, so the result (files, diagnostics and their order) is the same
// for any number of threads.

import * as os from 'os';
import type { Worker } from 'worker_threads';
import { assembleSteps, CompileManyOptions, CompileManyResult, loadManyCatalog, ProfileStep, profileStep } from './compile';
import type { Catalog } from './load/catalog';
import { checkOutputs } from './output';
import type { TargetName } from './targets/base';
import type { Diagnostic } from './diagnostics';
import { packagePath } from './paths';
import { availableTargets } from './targets';

/** workerData.role of a worker thread that compiles a share; also its
 * process.argv[2], so the entry can tell without loading worker_threads
 * (which a plain run never needs). */
export const WORKER_ROLE = 'portcullis-compile-share';
export const WORKER_ARG = `--portcullis-role=${WORKER_ROLE}`;
/** At most this many threads: more cores than that gain little here. */
const MAX_THREADS = 4;
/** At most this many when PORTCULLIS_JOBS asks for more. */
const MAX_SET_THREADS = 32;
/** A thread is worth starting for at least this many profiles: starting one
 * (a new V8 isolate, the bundle from its code cache, the catalog) costs
 * about what compiling six example-sized profiles does, and V8's own
 * garbage-collector and compiler threads already keep a second core
 * partly busy. */
const MIN_PROFILES_PER_THREAD = 12;

/** Work that one thread does: the profiles are taken one at a time from a
 * shared counter, so a thread that starts late (as a worker does) or runs
 * slower simply takes fewer. */
interface Share {
  profiles: CompileManyOptions['profiles'];
  targets: TargetName[];
  catalog?: CompileManyOptions['catalog'];
  /** With --check: each compiled environment compared with this out-dir too. */
  checkOutDir?: string;
  /** Int32Array over a SharedArrayBuffer: [next profile index]. */
  next: Int32Array;
}
type ShareRequest = { role: typeof WORKER_ROLE } & Share;
type ShareReply = { steps: [number, CheckedStep][] } | { catalogDiagnostics: Diagnostic[] } | { error: string };

/** A profile's step and, with checkOutDir, its drift ('' when none). */
export type CheckedStep = ProfileStep & { drift?: string };

/** How many threads compile `profiles` profiles: PORTCULLIS_JOBS when set
 * (1: this thread only; at most MAX_SET_THREADS), else one per core but
 * one, up to MAX_THREADS, with at least MIN_PROFILES_PER_THREAD profiles
 * each. One core is left to V8's own threads: a compile on one thread
 * keeps 1.4 cores busy (its garbage collector and optimizing compiler), so
 * on two cores a worker only competes with them (50 profiles: 0.49 s on
 * one thread, 0.515 s on two, on this project's 2-core machine). */
export function threadsFor(profiles: number, cores: number = availableCores()): number {
  const set = process.env.PORTCULLIS_JOBS;
  // Set by hand, still bounded: each thread is a V8 heap of its own.
  if (set !== undefined && /^[1-9][0-9]{0,2}$/.test(set)) return Math.min(Number(set), profiles, MAX_SET_THREADS);
  return Math.max(1, Math.min(cores - 1, MAX_THREADS, Math.floor(profiles / MIN_PROFILES_PER_THREAD)));
}

function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Compiles profiles from the shared counter until none is left. */
function work(share: Share, catalog: Catalog): [number, CheckedStep][] {
  const done: [number, CheckedStep][] = [];
  for (;;) {
    const i = Atomics.add(share.next, 0, 1);
    if (i >= share.profiles.length) return done;
    const step: CheckedStep = profileStep(catalog, share.profiles[i], share.targets, false);
    if (share.checkOutDir !== undefined && step.ok && !step.renderDiagnostics.length) {
      step.drift = checkOutputs(share.checkOutDir, step.files);
      // --check needs only the drift: the files are not kept (nor sent
      // between threads), which leaves the collector less to copy.
      step.files = [];
    }
    done.push([i, step]);
  }
}

/** compileMany() on `threads` threads (options checked by the caller);
 * with checkOutDir, each environment's drift too. thisThreadWorks: false
 * leaves every profile to the workers (for tests of the worker path). */
export async function compileManyOnThreads(
  options: CompileManyOptions,
  threads: number,
  checkOutDir?: string,
  thisThreadWorks = true,
): Promise<{ result: CompileManyResult; drift: Map<string, string> }> {
  const share: Share = { profiles: options.profiles, targets: options.targets ?? availableTargets(), catalog: options.catalog, checkOutDir, next: new Int32Array(new SharedArrayBuffer(4)) };
  // The workers first, so they start while this thread works.
  const workers: Worker[] = [];
  const replies: Promise<ShareReply>[] = [];
  for (let t = 1; t < threads; t++) {
    const { Worker } = require('worker_threads') as typeof import('worker_threads');
    const workerData: ShareRequest = { role: WORKER_ROLE, ...share };
    const w = new Worker(packagePath('bin', 'portcullis.js'), { workerData, argv: [WORKER_ARG] });
    workers.push(w);
    replies.push(replyOf(w));
  }
  try {
    const c = loadManyCatalog(options);
    if (!c.ok) return { result: c, drift: new Map() };
    const steps: CheckedStep[] = new Array(options.profiles.length);
    if (thisThreadWorks) for (const [i, step] of work(share, c.catalog)) steps[i] = step;
    for (const reply of await Promise.all(replies)) {
      if ('error' in reply) throw new Error(`internal: a compile worker failed: ${reply.error}`);
      if ('catalogDiagnostics' in reply) throw new Error('internal: a compile worker could not load the catalog this thread loaded');
      for (const [i, step] of reply.steps) steps[i] = step;
    }
    for (let i = 0; i < steps.length; i++) if (!steps[i]) throw new Error(`internal: no thread compiled profile ${i}`);
    const drift = new Map<string, string>();
    for (const s of steps) if (s.ok && s.drift !== undefined) drift.set(s.environment, s.drift);
    return { result: assembleSteps(steps), drift };
  } finally {
    for (const w of workers) void w.terminate();
  }
}

function replyOf(w: Worker): Promise<ShareReply> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`internal: a compile worker ended (exit ${code}) without its result`)));
  });
}

/** In a worker thread started by compileManyOnThreads(): compile profiles
 * from the shared counter and post their steps. */
export function runCompileShare(): void {
  const { parentPort, workerData } = require('worker_threads') as typeof import('worker_threads');
  const request = workerData as ShareRequest;
  let reply: ShareReply;
  try {
    const c = loadManyCatalog(request);
    reply = c.ok ? { steps: work(request, c.catalog) } : { catalogDiagnostics: c.diagnostics };
  } catch (e) {
    reply = { error: String((e as Error).stack ?? e) };
  }
  parentPort!.postMessage(reply);
}

/** Whether this thread is a compile worker (checked by the CLI's entry):
 * the role argument, and really a worker started with the role. */
export function isCompileWorker(): boolean {
  if (process.argv[2] !== WORKER_ARG) return false;
  const wt = require('worker_threads') as typeof import('worker_threads');
  return !wt.isMainThread && (wt.workerData as { role?: unknown } | null)?.role === WORKER_ROLE;
}
