/**
 * A worker map for CPU batches: a list of jobs runs over a few threads — worker_threads in Node,
 * module Web Workers in a browser — and results come back in job order. Nothing here knows what
 * the jobs compute.
 *
 * Main side:
 *
 *   // Once per worker module, at module level (its identity keys the idle workers). Bundlers
 *   // (Vite, webpack) recognise this exact form and bundle the worker module with its imports;
 *   // `Worker` is the parameter: the browser's Worker, or one over worker_threads in Node.
 *   const spawnMyWorker: SpawnWorker = (Worker) => new Worker(new URL('./myWorker.js', import.meta.url), { type: 'module' });
 *
 *   const out = await mapInWorkers({
 *     worker: spawnMyWorker,   // (or module: new URL(…): Node only, unbundled)
 *     handler: myHandler,      // the same factory, for threads: 0 (runs in the calling thread)
 *     init,                    // structured-cloned into every worker once per map, given to the factory
 *     jobs,                    // WorkerJob[] or { count, make(index) } (made just before sending)
 *     threads: 2,              // 0: in the calling thread, yielding to the event loop between jobs
 *     signal,                  // abort: every worker is terminated, the promise rejects with signal.reason
 *     onDone: (index, value) => …, // as each job completes (progress)
 *   });
 *
 * Worker module:
 *
 *   export function myHandler(init: I): (data: D) => WorkerReply<O> { … }
 *   void serveWorker(myHandler);
 *
 * A job's `transfer` list and a reply's `transfer` list are moved, not copied, across threads
 * (pack many small arrays into a few typed arrays and transfer their buffers). SharedArrayBuffers
 * travel as shared memory; a browser page has them only when cross-origin isolated
 * (canShareMemory says whether), and callers then send copies that move instead. A handler that
 * throws rejects the whole map (errors that belong to one item should be part of its value);
 * so does a worker that dies. After a successful map its workers stay, idle and unreferenced,
 * for the next map of the same module (for up to 30 s: warm JIT, no start-up). After an abort no
 * job is sent and the promise rejects once the jobs in flight are back (their workers stay, as
 * after a success; a job still running after 2 s gets its worker terminated); after a failure
 * every worker of the map is terminated before the promise rejects.
 *
 * Running from TypeScript sources (vitest): when a worker URL names a `.js` file that does not
 * exist but its `.ts` sibling does (or names a `.ts` file), the worker module and everything it
 * imports by relative path are transpiled (types erased, by the `typescript` development
 * dependency) once per process into node_modules/.cache/, so workers run the same sources as
 * their caller, never a stale build. Built code (dist/) loads the compiled `.js` directly.
 *
 * Node's modules load on first use, so the file also loads in a browser; availableThreads()
 * there is navigator.hardwareConcurrency where Web Workers exist.
 */
import type { TransferListItem, Worker as NodeWorker } from 'node:worker_threads';

interface NodeModules {
  fs: typeof import('node:fs');
  module: typeof import('node:module');
  os: typeof import('node:os');
  path: typeof import('node:path');
  url: typeof import('node:url');
  threads: typeof import('node:worker_threads');
}

let nodeModules: Promise<NodeModules | null> | undefined;
/** The factory of the last serveWorker call (see serveWorker). */
let latestFactory: unknown;

/**
 * Node's modules, loaded on first use so that this file (and everything importing it) still
 * loads in a browser, where it resolves to null; variable specifiers keep bundlers from
 * resolving them.
 */
function node(): Promise<NodeModules | null> {
  nodeModules ??= (async () => {
    if (typeof process === 'undefined' || process.versions?.node === undefined) return null;
    const load = (name: string): Promise<unknown> => import(name);
    const [fs, module, os, path, url, threads] = await Promise.all(['node:fs', 'node:module', 'node:os', 'node:path', 'node:url', 'node:worker_threads'].map(load));
    return { fs, module, os, path, url, threads } as NodeModules;
  })();
  return nodeModules;
}

/**
 * Threads a batch can use: the available parallelism in Node, navigator.hardwareConcurrency in a
 * browser (or a browser's worker) with Web Workers, 0 (the calling thread) elsewhere.
 */
export async function availableThreads(): Promise<number> {
  const n = await node();
  if (n !== null) return n.os.availableParallelism();
  if (typeof Worker !== 'function' || typeof navigator === 'undefined') return 0;
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** One worker thread as the pool drives it, in Node or in a browser. */
export interface PoolThread {
  postMessage(message: unknown, transfer: readonly Transferable[]): void;
  /** Adds the listeners; returns what removes exactly them. `exit`: the thread ended on its own. */
  listen(l: ThreadListeners): () => void;
  terminate(): Promise<void>;
  /** Whether the thread keeps the process alive (Node; nothing in a browser). */
  hold(held: boolean): void;
}

export interface ThreadListeners {
  message?: (data: unknown) => void;
  error?: (e: Error) => void;
  exit?: (code: number) => void;
}

/** What a SpawnWorker is handed: the browser's Worker in a browser, one over worker_threads in Node. */
export type PoolWorkerConstructor = new (url: URL, options: { type: 'module' }) => PoolThread;

/**
 * Starts one worker of a module: `(Worker) => new Worker(new URL('./w.js', import.meta.url), { type: 'module' })`,
 * written out like that so that bundlers find and bundle the worker module (see the file header).
 */
export type SpawnWorker = (Worker: PoolWorkerConstructor) => PoolThread;

/** Workers this pool has started in this thread so far, and how many are alive (busy or idle). */
export function workerPoolStats(): { started: number; alive: number } {
  return { started: stats.started, alive: stats.alive };
}
const stats = { started: 0, alive: 0 };

export interface WorkerJob<D> {
  data: D;
  /** Buffers (or ports) moved to the worker with the job. */
  transfer?: readonly Transferable[];
}

export interface WorkerReply<O> {
  value: O;
  /** Buffers moved back with the value. */
  transfer?: readonly Transferable[];
}

/** Called in each worker at the start of every map, with that map's `init`; returns the function that handles its jobs. */
export type WorkerHandlerFactory<I, D, O> = (init: I) => (data: D) => WorkerReply<O> | Promise<WorkerReply<O>>;

/** Jobs built on demand, so that a large batch is never copied into job buffers all at once. */
export interface LazyJobs<D> {
  count: number;
  make(index: number): WorkerJob<D>;
}

export interface MapInWorkersOptions<I, D, O> {
  /** Starts a worker of the module that calls `serveWorker` (the bundler-visible form; see the file header). */
  worker?: SpawnWorker;
  /** Or the worker module's URL (unbundled code: Node, or a browser loading the module as it is). */
  module?: URL;
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

/**
 * Marks workers started by this pool (Node's workerData) and its messages, so serveWorker never
 * answers another owner's messages.
 */
const POOL_MARK = '__batchfitWorkerPool';

interface PoolWorkerData {
  [POOL_MARK]: true;
}

/** A map's init (before its first job to each worker), a job, and the end of a map. */
type ToWorker = { [POOL_MARK]: true } & ({ kind: 'init'; init: unknown } | { kind: 'job'; id: number; data: unknown } | { kind: 'release' });
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

/** Source mode: the worker's module graph transpiled once per process, by entry file. */
const sourceBuilds = new Map<string, string>();

/** The directory of the package holding `file` (nearest package.json). */
function packageRoot(n: NodeModules, file: string): string {
  let dir = n.path.dirname(file);
  while (!n.fs.existsSync(n.path.join(dir, 'package.json'))) {
    const up = n.path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${file}`);
    dir = up;
  }
  return dir;
}

/**
 * Transpiles the relative-import graph of a TypeScript worker entry (types erased, `./x.js`
 * read from `./x.ts`) into <package>/node_modules/.cache/, mirroring the source tree so that
 * package imports still resolve; removed when the process exits. Returns the entry's .js path.
 */
function transpileWorkerGraph(n: NodeModules, entryTs: string): string {
  const { fs, path } = n;
  const ts = n.module.createRequire(entryTs)('typescript') as typeof import('typescript');
  const root = packageRoot(n, entryTs);
  const cache = path.join(root, 'node_modules', '.cache');
  fs.mkdirSync(cache, { recursive: true });
  const outRoot = fs.mkdtempSync(path.join(cache, `batchfit-workers-${process.pid}-`));
  process.once('exit', () => fs.rmSync(outRoot, { recursive: true, force: true }));
  const outPath = (file: string): string => {
    const rel = path.relative(root, file);
    if (rel.startsWith('..')) throw new Error(`worker module graph leaves its package: ${file}`);
    return path.join(outRoot, rel.replace(/\.ts$/, '.js'));
  };
  const seen = new Set<string>();
  const queue = [entryTs];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = fs.readFileSync(file, 'utf8');
    for (const imp of ts.preProcessFile(source, true, true).importedFiles) {
      if (!imp.fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), imp.fileName);
      const tsTarget = target.replace(/\.js$/, '.ts');
      queue.push(tsTarget !== target && fs.existsSync(tsTarget) ? tsTarget : target);
    }
    const js = file.endsWith('.ts')
      ? ts.transpileModule(source, { fileName: file, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
      : source;
    const dest = outPath(file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, js);
  }
  return outPath(entryTs);
}

/** The file a worker for `module` runs: the module itself, or its TypeScript source transpiled. */
function workerFile(n: NodeModules, module: URL): URL {
  if (module.protocol !== 'file:') return module;
  const { existsSync } = n.fs;
  const path = n.url.fileURLToPath(module);
  let entryTs: string;
  if (path.endsWith('.ts') && existsSync(path)) entryTs = path;
  else if (existsSync(path)) return module;
  else if (path.endsWith('.js') && existsSync(path.slice(0, -3) + '.ts')) entryTs = path.slice(0, -3) + '.ts';
  else throw new Error(`worker module ${path} does not exist (build the package, or run from its TypeScript sources)`);
  let build = sourceBuilds.get(entryTs);
  if (build === undefined) {
    build = transpileWorkerGraph(n, entryTs);
    sourceBuilds.set(entryTs, build);
  }
  return n.url.pathToFileURL(build);
}

/** A worker_threads Worker as a PoolThread; constructed only after node() has resolved. */
function nodeThreadClass(n: NodeModules): PoolWorkerConstructor {
  return class NodeThread implements PoolThread {
    readonly #w: NodeWorker;
    constructor(url: URL) {
      this.#w = new n.threads.Worker(workerFile(n, url), { workerData: { [POOL_MARK]: true } satisfies PoolWorkerData });
    }
    postMessage(message: unknown, transfer: readonly Transferable[]): void {
      this.#w.postMessage(message, transfer as readonly TransferListItem[]);
    }
    listen(l: ThreadListeners): () => void {
      const entries = Object.entries({ message: l.message, error: l.error, messageerror: l.error, exit: l.exit }).filter(([, f]) => f !== undefined) as [string, (...a: unknown[]) => void][];
      for (const [event, f] of entries) this.#w.on(event, f);
      return () => {
        for (const [event, f] of entries) this.#w.off(event, f);
      };
    }
    async terminate(): Promise<void> {
      await this.#w.terminate();
    }
    hold(held: boolean): void {
      if (held) this.#w.ref();
      else this.#w.unref();
    }
  };
}

/** A module Web Worker as a PoolThread. */
class BrowserThread implements PoolThread {
  readonly #w: Worker;
  constructor(url: URL, options: { type: 'module' }) {
    this.#w = new Worker(url, options);
  }
  postMessage(message: unknown, transfer: readonly Transferable[]): void {
    this.#w.postMessage(message, transfer as Transferable[]);
  }
  listen(l: ThreadListeners): () => void {
    const onMessage = (e: MessageEvent): void => l.message?.(e.data);
    // A worker's load or top-level failure; handled here, so it does not also reach the console.
    const onError = (e: Event): void => {
      e.preventDefault();
      l.error?.(new Error(`worker failed: ${(e as ErrorEvent).message || 'the worker module did not load'}`));
    };
    const onMessageError = (): void => l.error?.(new Error('worker message could not be deserialized'));
    this.#w.addEventListener('message', onMessage);
    this.#w.addEventListener('error', onError);
    this.#w.addEventListener('messageerror', onMessageError);
    return () => {
      this.#w.removeEventListener('message', onMessage);
      this.#w.removeEventListener('error', onError);
      this.#w.removeEventListener('messageerror', onMessageError);
    };
  }
  terminate(): Promise<void> {
    this.#w.terminate();
    return Promise.resolve();
  }
  hold(): void {}
}

/** The Worker class spawns get here, or null where there is none (threads: 0 only). */
async function threadClass(): Promise<PoolWorkerConstructor | null> {
  const n = await node();
  if (n !== null) return nodeThreadClass(n);
  return typeof Worker === 'function' ? BrowserThread : null;
}

function jobAt<D>(jobs: readonly WorkerJob<D>[] | LazyJobs<D>, i: number): WorkerJob<D> {
  return 'make' in jobs ? jobs.make(i) : jobs[i]!;
}

function jobCount<D>(jobs: readonly WorkerJob<D>[] | LazyJobs<D>): number {
  return 'make' in jobs ? jobs.count : jobs.length;
}

/** Lets pending events run between in-thread jobs: setImmediate in Node, a 0 ms timer in a browser (which has no setImmediate). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/** Whether worker threads can share memory here (a browser page needs cross-origin isolation). */
export function canShareMemory(): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
}

/** Whether a buffer is shared memory; false where SharedArrayBuffer does not exist (a page that is not cross-origin isolated). */
export function isSharedBuffer(b: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer;
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

/**
 * Idle workers by worker file, kept after a successful map so that the next one skips thread
 * start-up and, above all, finds the code already optimised by the JIT (a cold worker runs its
 * first few hundred small fits several times slower). Unreferenced, so they never keep the
 * process alive; terminated after IDLE_MS unused.
 */
const idleWorkers = new Map<unknown, Map<PoolThread, () => void>>();
const IDLE_MS = 30_000;

function takeIdle(key: unknown): PoolThread | undefined {
  const idle = idleWorkers.get(key);
  const first = idle?.entries().next().value;
  if (first === undefined) return undefined;
  const [w, unpark] = first;
  unpark();
  w.hold(true);
  return w;
}

/** Terminates a worker of this pool, counted. */
function retire(w: PoolThread): Promise<void> {
  stats.alive--;
  return w.terminate();
}

function parkIdle(key: unknown, w: PoolThread): void {
  let idle = idleWorkers.get(key);
  if (idle === undefined) idleWorkers.set(key, (idle = new Map()));
  const timer = setTimeout(() => {
    unpark();
    void retire(w);
  }, IDLE_MS);
  // Node: the timer must not keep the process alive (a browser's timer is a number).
  (timer as { unref?: () => void }).unref?.();
  // An idle worker that dies is simply forgotten.
  const detach = w.listen({
    error: () => {
      unpark();
      void retire(w);
    },
    exit: () => {
      unpark();
      stats.alive--;
    },
  });
  const unpark = (): void => {
    clearTimeout(timer);
    detach();
    idle.delete(w);
  };
  idle.set(w, unpark);
  w.hold(false);
}

/**
 * Jobs queued per worker: the next one is already waiting when a job ends, so a worker does not
 * idle while its reply travels and this thread makes the next job.
 */
const JOBS_IN_FLIGHT = 2;
/** How long an abort waits for the jobs in flight before it terminates their workers. */
const ABORT_GRACE_MS = 2000;

/** Runs every job on a pool of `threads` workers; values in job order. See the file header. */
export async function mapInWorkers<I, D, O>(opts: MapInWorkersOptions<I, D, O>): Promise<O[]> {
  const { threads, jobs, signal, onDone } = opts;
  if (!(Number.isInteger(threads) && threads >= 0)) throw new RangeError(`mapInWorkers: threads = ${threads} must be an integer ≥ 0`);
  signal?.throwIfAborted();
  if (threads === 0) {
    if (opts.handler === undefined) throw new TypeError('mapInWorkers: threads = 0 needs the handler factory to run in this thread');
    return mapInThread(opts, opts.handler);
  }
  const n = jobCount(jobs);
  if (n === 0) return [];
  const { worker, module } = opts;
  if (worker === undefined && module === undefined) throw new TypeError('mapInWorkers: threads > 0 needs `worker` (or `module`)');
  const Thread = await threadClass();
  if (Thread === null) throw new Error('mapInWorkers: no worker threads here (neither worker_threads nor Web Workers); use threads = 0');
  const spawn = (): PoolThread => {
    const w = worker === undefined ? new Thread(module!, { type: 'module' }) : worker(Thread);
    stats.started++;
    stats.alive++;
    return w;
  };
  // The same module's idle workers serve the next map: keyed by the spawn function, or the URL.
  const key = worker ?? module!.href;
  signal?.throwIfAborted();

  return new Promise<O[]>((resolve, reject) => {
    const out = new Array<O>(n);
    const workers: PoolThread[] = [];
    const detachers: (() => void)[] = [];
    let next = 0;
    let done = 0;
    let settled = false;

    const finish = (error: unknown): void => {
      if (settled) return;
      settled = true;
      if (aborting !== null) clearTimeout(aborting.timer);
      signal?.removeEventListener('abort', onAbort);
      for (const detach of detachers) detach();
      if (error === undefined) {
        // Every worker is idle now: it drops this map's state and waits for the next map.
        for (const w of workers) {
          w.postMessage({ [POOL_MARK]: true, kind: 'release' } satisfies ToWorker, []);
          parkIdle(key, w);
        }
        resolve(out);
        return;
      }
      // Settle only once no worker of this map runs any more.
      void Promise.all(workers.map(retire)).then(() => reject(error));
    };
    // An abort stops sending jobs and waits for the jobs in flight (each a short chunk) to come
    // back, so the workers are released, not terminated: terminating a thread while V8 compiles
    // its code in the background can abort the whole process (Node 20). A job still running
    // after ABORT_GRACE_MS (a hung fit) gets its worker terminated all the same.
    let aborting: { reason: unknown; timer: ReturnType<typeof setTimeout> } | null = null;
    const inFlight = (): number => next - done;
    const abortWhenIdle = (): void => {
      if (aborting === null || inFlight() > 0) return;
      clearTimeout(aborting.timer);
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      for (const detach of detachers) detach();
      for (const w of workers) {
        w.postMessage({ [POOL_MARK]: true, kind: 'release' } satisfies ToWorker, []);
        parkIdle(key, w);
      }
      reject(aborting.reason);
    };
    const onAbort = (): void => {
      if (settled || aborting !== null) return;
      aborting = { reason: signal!.reason, timer: setTimeout(() => finish(signal!.reason), ABORT_GRACE_MS) };
      abortWhenIdle();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const send = (w: PoolThread): void => {
      if (next >= n || aborting !== null) return;
      const id = next++;
      try {
        const job = jobAt(jobs, id);
        w.postMessage({ [POOL_MARK]: true, kind: 'job', id, data: job.data } satisfies ToWorker, job.transfer ?? []);
      } catch (e) {
        finish(e);
      }
    };

    try {
      for (let t = 0; t < Math.min(threads, n); t++) {
        const w = takeIdle(key) ?? spawn();
        workers.push(w);
        const detach = w.listen({
          message: (data) => {
            const msg = data as FromWorker;
            if (settled) return;
            if (!msg.ok) {
              finish(deserializeError(msg.error));
              return;
            }
            done++;
            if (aborting !== null) {
              abortWhenIdle();
              return;
            }
            out[msg.id] = msg.value as O;
            try {
              onDone?.(msg.id, msg.value as O);
            } catch (e) {
              finish(e);
              return;
            }
            if (done === n) finish(undefined);
            else send(w);
          },
          error: (e) => finish(e),
          exit: (code) => {
            if (!settled) finish(new Error(`worker thread exited with code ${code} before its jobs were done`));
          },
        });
        detachers.push(detach);
        w.postMessage({ [POOL_MARK]: true, kind: 'init', init: opts.init } satisfies ToWorker, []);
        send(w);
      }
      // Round by round, so that a batch of few jobs still spreads over every worker.
      for (let k = 1; k < JOBS_IN_FLIGHT; k++) for (const w of workers) send(w);
    } catch (e) {
      finish(e);
    }
  });
}

/** The port a pool worker answers on: Node's parentPort, or a browser worker's global scope. */
interface ServePort {
  onMessage(f: (msg: unknown) => void): void;
  postMessage(msg: FromWorker, transfer: readonly Transferable[]): void;
}

async function servePort(): Promise<ServePort | null> {
  const mods = await node();
  if (mods !== null) {
    const { isMainThread, parentPort, workerData } = mods.threads;
    const data = workerData as PoolWorkerData | undefined;
    if (isMainThread || parentPort === null || data?.[POOL_MARK] !== true) return null;
    return {
      onMessage: (f) => parentPort.on('message', f),
      postMessage: (msg, transfer) => parentPort.postMessage(msg, transfer as readonly TransferListItem[]),
    };
  }
  // A dedicated Web Worker (its global scope has postMessage and no document).
  const scope = globalThis as unknown as { document?: unknown; postMessage?: unknown; addEventListener?: unknown };
  if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'function' || scope.document !== undefined) return null;
  const self = globalThis as unknown as DedicatedWorkerScope;
  return {
    onMessage: (f) => self.addEventListener('message', (e) => f(e.data)),
    postMessage: (msg, transfer) => self.postMessage(msg, transfer as Transferable[]),
  };
}

interface DedicatedWorkerScope {
  addEventListener(type: 'message', f: (e: MessageEvent) => void): void;
  postMessage(msg: unknown, transfer: Transferable[]): void;
}

/**
 * The worker side: builds `factory(init)`'s handler at the start of each map and answers the
 * map's jobs with it. Does nothing outside a worker started by mapInWorkers (and answers only
 * the pool's messages), so a module that calls it can also be imported elsewhere.
 */
export async function serveWorker<I, D, O>(factory: WorkerHandlerFactory<I, D, O>): Promise<void> {
  // Only the worker's entry module serves. A worker module that imports another worker module
  // (directly, or through an index) would otherwise have both answer every message. The entry
  // module is evaluated after everything it imports, and the await below resumes only once the
  // whole module graph is evaluated, so the last call made is the entry module's.
  latestFactory = factory;
  const port = await servePort();
  if (port === null || latestFactory !== factory) return;
  // Moving a buffer to another thread detaches it, and the first detach in an isolate throws
  // away all code optimised so far (V8's "array buffer detaching" protector): the first reply of
  // a fresh worker would cost its whole JIT warm-up again. One detach now, before anything is
  // optimised, spends that once for nothing.
  const detached = new ArrayBuffer(8);
  structuredClone(detached, { transfer: [detached] });
  let handle: ((d: D) => WorkerReply<O> | Promise<WorkerReply<O>>) | undefined;
  let initError: unknown;
  port.onMessage(async (raw) => {
    const msg = raw as ToWorker | null;
    if (msg === null || typeof msg !== 'object' || msg[POOL_MARK] !== true) return;
    if (msg.kind === 'init') {
      handle = undefined;
      initError = undefined;
      try {
        handle = factory(msg.init as I);
      } catch (e) {
        initError = e;
      }
      return;
    }
    if (msg.kind === 'release') {
      handle = undefined;
      return;
    }
    try {
      if (handle === undefined) throw initError;
      const reply = await handle(msg.data as D);
      port.postMessage({ id: msg.id, ok: true, value: reply.value } satisfies FromWorker, reply.transfer ?? []);
    } catch (e) {
      port.postMessage({ id: msg.id, ok: false, error: serializeError(e) } satisfies FromWorker, []);
    }
  });
}
