/**
 * A worker_threads map for CPU batches: a list of jobs runs over a few threads, results come back
 * in job order. Nothing here knows what the jobs compute.
 *
 * Main side:
 *
 *   const out = await mapInWorkers({
 *     module: new URL('./myWorker.js', import.meta.url), // the worker module (see below)
 *     handler: myHandler,      // the same factory, for threads: 0 (runs in the calling thread)
 *     init,                    // structured-cloned once into every worker, given to the factory
 *     jobs,                    // WorkerJob[] or { count, make(index) } (made just before sending)
 *     threads: 2,              // 0: in the calling thread, yielding to the event loop between jobs
 *     signal,                  // abort: every worker is terminated, the promise rejects with signal.reason
 *     onDone: (index, value) => …, // as each job completes (progress)
 *   });
 *
 * Worker module:
 *
 *   export function myHandler(init: I): (data: D) => WorkerReply<O> { … }
 *   serveWorker(myHandler);
 *
 * A job's `transfer` list and a reply's `transfer` list are moved, not copied, across threads
 * (pack many small arrays into a few typed arrays and transfer their buffers). A handler that
 * throws rejects the whole map (errors that belong to one item should be part of its value);
 * so does a worker that dies. Workers live for one map call and are terminated before the
 * promise settles, whatever the outcome.
 *
 * Running from TypeScript sources (vitest): when `module` names a `.js` file that does not exist
 * but its `.ts` sibling does (or names a `.ts` file), each worker first registers module hooks
 * that transpile `.ts` files with the `typescript` package (a development dependency) and map
 * `./x.js` imports to `./x.ts`, so the worker runs the same sources as its caller, never a stale
 * build. Built code (dist/) loads the compiled `.js` directly.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData, type TransferListItem } from 'node:worker_threads';

export interface WorkerJob<D> {
  data: D;
  /** Buffers (or ports) moved to the worker with the job. */
  transfer?: readonly TransferListItem[];
}

export interface WorkerReply<O> {
  value: O;
  /** Buffers moved back with the value. */
  transfer?: readonly TransferListItem[];
}

/** Called once per worker with `init`; returns the function that handles each job there. */
export type WorkerHandlerFactory<I, D, O> = (init: I) => (data: D) => WorkerReply<O> | Promise<WorkerReply<O>>;

/** Jobs built on demand, so that a large batch is never copied into job buffers all at once. */
export interface LazyJobs<D> {
  count: number;
  make(index: number): WorkerJob<D>;
}

export interface MapInWorkersOptions<I, D, O> {
  /** URL of the worker module, which calls `serveWorker`. */
  module: URL;
  /** The factory the worker module serves; required for threads = 0. */
  handler?: WorkerHandlerFactory<I, D, O>;
  init?: I;
  jobs: readonly WorkerJob<D>[] | LazyJobs<D>;
  /** Worker threads (at most one per job); 0 runs the jobs in the calling thread. */
  threads: number;
  signal?: AbortSignal;
  /** Called in the calling thread as each job's value arrives (in completion order). */
  onDone?: (index: number, value: O) => void;
}

/** Marks workers started by this pool, so serveWorker never answers another owner's messages. */
const POOL_MARK = '__batchfitWorkerPool';

interface PoolWorkerData {
  [POOL_MARK]: true;
  init: unknown;
  /** Source mode: hooks module (data: URL), the typescript package and the .ts entry. */
  hooks?: string;
  typescript?: string;
  entry?: string;
}

type ToWorker = { id: number; data: unknown };
type FromWorker = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { name: string; message: string; stack?: string } };

function serializeError(e: unknown): { name: string; message: string; stack?: string } {
  if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack === undefined ? {} : { stack: e.stack }) };
  return { name: 'Error', message: String(e) };
}

function deserializeError(e: { name: string; message: string; stack?: string }): Error {
  const ctor = e.name === 'RangeError' ? RangeError : e.name === 'TypeError' ? TypeError : Error;
  const err = new ctor(e.message);
  // Other error classes arrive as Error with their name.
  if (err.name !== e.name) err.name = e.name;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/**
 * Module hooks for source mode: `./x.js` → `./x.ts` when only the .ts exists, and .ts files
 * transpiled (types erased) by the typescript package, loaded once per worker.
 */
const TS_HOOKS = `
let ts;
export async function initialize(data) { ts = (await import(data.typescript)).default; }
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (specifier.endsWith('.js') && context.parentURL !== undefined && context.parentURL.endsWith('.ts')) {
      return next(specifier.slice(0, -3) + '.ts', context);
    }
    throw e;
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(new URL(url), 'utf8');
  const out = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
`;

/** CommonJS bootstrap of a source-mode worker: register the hooks, then import the entry. */
const TS_BOOTSTRAP = `
const { register } = require('node:module');
const { workerData } = require('node:worker_threads');
register(workerData.hooks, { data: { typescript: workerData.typescript } });
import(workerData.entry).catch((e) => { setImmediate(() => { throw e; }); });
`;

/** How to start a worker for `module`: the compiled file, or the TypeScript source through hooks. */
function workerEntry(module: URL): { source: true; entry: string } | { source: false; entry: URL } {
  if (module.protocol !== 'file:') return { source: false, entry: module };
  const path = fileURLToPath(module);
  if (path.endsWith('.ts') && existsSync(path)) return { source: true, entry: module.href };
  if (existsSync(path)) return { source: false, entry: module };
  const ts = path.replace(/\.js$/, '.ts');
  if (ts !== path && existsSync(ts)) return { source: true, entry: pathToFileURL(ts).href };
  throw new Error(`worker module ${path} does not exist (build the package, or run from its TypeScript sources)`);
}

function startWorker(module: URL, init: unknown): Worker {
  const how = workerEntry(module);
  if (!how.source) {
    const data: PoolWorkerData = { [POOL_MARK]: true, init };
    return new Worker(how.entry, { workerData: data });
  }
  const typescript = pathToFileURL(createRequire(fileURLToPath(module)).resolve('typescript')).href;
  const data: PoolWorkerData = {
    [POOL_MARK]: true,
    init,
    hooks: `data:text/javascript,${encodeURIComponent(TS_HOOKS)}`,
    typescript,
    entry: how.entry,
  };
  return new Worker(TS_BOOTSTRAP, { eval: true, workerData: data });
}

function jobAt<D>(jobs: readonly WorkerJob<D>[] | LazyJobs<D>, i: number): WorkerJob<D> {
  return 'make' in jobs ? jobs.make(i) : jobs[i]!;
}

function jobCount<D>(jobs: readonly WorkerJob<D>[] | LazyJobs<D>): number {
  return 'make' in jobs ? jobs.count : jobs.length;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function mapInThread<I, D, O>(opts: MapInWorkersOptions<I, D, O>, factory: WorkerHandlerFactory<I, D, O>): Promise<O[]> {
  const { jobs, signal, onDone } = opts;
  const n = jobCount(jobs);
  const handle = factory(opts.init as I);
  const out = new Array<O>(n);
  for (let i = 0; i < n; i++) {
    signal?.throwIfAborted();
    const value = (await handle(jobAt(jobs, i).data)).value;
    out[i] = value;
    onDone?.(i, value);
    // Lets an abort (or anything else queued) run between jobs.
    if (i + 1 < n) await yieldToEventLoop();
  }
  signal?.throwIfAborted();
  return out;
}

/** Runs every job on a pool of `threads` workers; values in job order. See the file header. */
export function mapInWorkers<I, D, O>(opts: MapInWorkersOptions<I, D, O>): Promise<O[]> {
  const { threads, jobs, signal, onDone } = opts;
  if (!(Number.isInteger(threads) && threads >= 0)) {
    return Promise.reject(new RangeError(`mapInWorkers: threads = ${threads} must be an integer ≥ 0`));
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (threads === 0) {
    if (opts.handler === undefined) return Promise.reject(new TypeError('mapInWorkers: threads = 0 needs the handler factory to run in this thread'));
    return mapInThread(opts, opts.handler);
  }
  const n = jobCount(jobs);
  if (n === 0) return Promise.resolve([]);

  return new Promise<O[]>((resolve, reject) => {
    const out = new Array<O>(n);
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let settled = false;

    const finish = (error: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      // Settle only once no worker runs any more.
      void Promise.all(workers.map((w) => w.terminate())).then(() => (error === undefined ? resolve(out) : reject(error)));
    };
    const onAbort = (): void => finish(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    const send = (w: Worker): void => {
      if (next >= n) return;
      const id = next++;
      try {
        const job = jobAt(jobs, id);
        w.postMessage({ id, data: job.data } satisfies ToWorker, job.transfer);
      } catch (e) {
        finish(e);
      }
    };

    try {
      for (let t = 0; t < Math.min(threads, n); t++) {
        const w = startWorker(opts.module, opts.init);
        workers.push(w);
        w.on('message', (msg: FromWorker) => {
          if (settled) return;
          if (!msg.ok) {
            finish(deserializeError(msg.error));
            return;
          }
          out[msg.id] = msg.value as O;
          done++;
          try {
            onDone?.(msg.id, msg.value as O);
          } catch (e) {
            finish(e);
            return;
          }
          if (done === n) finish(undefined);
          else send(w);
        });
        w.on('error', (e) => finish(e));
        w.on('messageerror', (e) => finish(e));
        w.on('exit', (code) => {
          if (!settled) finish(new Error(`worker thread exited with code ${code} before its jobs were done`));
        });
        send(w);
      }
    } catch (e) {
      finish(e);
    }
  });
}

/**
 * The worker side: answers each job with `factory(init)`'s handler. Does nothing outside a
 * worker started by mapInWorkers, so a module that calls it can also be imported elsewhere.
 */
export function serveWorker<I, D, O>(factory: WorkerHandlerFactory<I, D, O>): void {
  const data = workerData as PoolWorkerData | undefined;
  if (isMainThread || parentPort === null || data?.[POOL_MARK] !== true) return;
  const port = parentPort;
  let handle: ((d: D) => WorkerReply<O> | Promise<WorkerReply<O>>) | undefined;
  let initError: unknown;
  try {
    handle = factory(data.init as I);
  } catch (e) {
    initError = e;
  }
  port.on('message', async (msg: ToWorker) => {
    try {
      if (handle === undefined) throw initError;
      const reply = await handle(msg.data as D);
      port.postMessage({ id: msg.id, ok: true, value: reply.value } satisfies FromWorker, reply.transfer);
    } catch (e) {
      port.postMessage({ id: msg.id, ok: false, error: serializeError(e) } satisfies FromWorker);
    }
  });
}
