/**
 * Host CPU time of a batch call split by whose code ran: batchfit's own, webgpu (Dawn), GC, and
 * the time the JS thread slept (waiting on the GPU, timers or workers), from a V8 sampling
 * profile of the calling thread. Only that thread is sampled: worker threads are not.
 */
import { Session, type Profiler } from 'node:inspector/promises';
import { basename, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from './util.js';

/**
 * - own: batchfit's code, and the natives (builtins, Node bindings) it calls directly;
 * - webgpu: node_modules/webgpu's JS and dawn.node's native methods (writeBuffer, mapAsync, ...);
 * - gc: `(garbage collector)`; idle: `(idle)`, program: `(program)` (the thread waiting in the
 *   event loop shows as one of these two);
 * - other: everything else (Node internals, vitest, bench/, other packages).
 */
export type HostClass = 'own' | 'webgpu' | 'gc' | 'idle' | 'program' | 'other';

export interface OwnFunction {
  /** The function; `caller > native` when the time was in a native it called. */
  name: string;
  /** `file:line` (1-based) of the function in the code V8 ran (vitest's transform, or build/ JS). */
  where: string;
  ms: number;
}

export interface HostSamples {
  /** Sampled time per class; it covers the sampled span, which ends with Profiler.stop. */
  ms: Record<HostClass, number>;
  samples: number;
  /** The 15 own functions with the most self time, most first. */
  topOwn: OwnFunction[];
}

export interface HostProfile extends HostSamples {
  /** Wall time of fn itself. */
  wallMs: number;
}

/** µs; the 2-core VMs we run on manage about one sample per 100-200 µs at this setting. */
const SAMPLING_INTERVAL_US = 100;
const TOP_OWN = 15;

/**
 * batchfit's code however it is run: TS sources (vitest), tsc's build/src/ (benchmarks) and
 * dist/ (the package).
 */
export const DEFAULT_OWN_PATHS: readonly string[] = [join(projectRoot, 'src'), join(projectRoot, 'build', 'src'), join(projectRoot, 'dist')];

/** V8's pseudo-frames; a map, not an object, so that a function named `constructor` is no match. */
const META_CLASS = new Map<string, HostClass>([
  ['(garbage collector)', 'gc'],
  ['(idle)', 'idle'],
  ['(program)', 'program'],
  ['(root)', 'other'],
]);

/** A file path for a frame url: `file://` urls, or the bare absolute paths some loaders report. */
function framePath(url: string): string | undefined {
  if (url.startsWith('file://')) return fileURLToPath(url);
  if (url.startsWith('/')) return url.replace(/[?#].*$/, '');
  return undefined;
}

type Frame = Profiler.ProfileNode['callFrame'];

/**
 * Names V8 gives dawn.node's callbacks besides none: a WebGPU interface (seen: `GPU`) or a
 * WebGPU method, not necessarily the one running (seen: `setBlendConstant` for a compute
 * encoder's call). The methods are read off the prototypes of the `webgpu` package's globals;
 * collection-like names that builtins share (`has`, `keys`, …) are left out.
 */
const DAWN_METHODS: ReadonlySet<string> = await (async () => {
  const names = new Set<string>();
  try {
    const { globals } = (await import('webgpu')) as unknown as { globals: Record<string, unknown> };
    for (const v of Object.values(globals)) {
      if (typeof v !== 'function' || !v.prototype) continue;
      for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(v.prototype))) if (typeof d.value === 'function') names.add(name);
    }
  } catch {
    // No webgpu package: its callbacks cannot appear either.
  }
  for (const shared of ['constructor', 'has', 'keys', 'values', 'entries', 'forEach', 'get', 'set', 'toString']) names.delete(shared);
  return names;
})();

/**
 * V8 profiles N-API callbacks as frames with neither url nor script and, mostly, no name;
 * dawn.node is the only native addon batchfit loads, so such a frame is a call into Dawn, as is
 * a native frame named after a WebGPU interface or method (DAWN_METHODS). Builtins and Node's
 * own bindings (TypedArray `set`, fs `read`) have other names.
 */
function isAddonCallback(f: Frame): boolean {
  return f.url === '' && f.scriptId === '0' && (f.functionName === '' || /^GPU[A-Za-z]*$/.test(f.functionName) || DAWN_METHODS.has(f.functionName));
}

interface Verdict {
  cls: HostClass;
  /** For own: the function to charge in topOwn. */
  key?: string;
  name?: string;
  where?: string;
}

/** Runs fn under the V8 sampling profiler and splits the calling thread's time by class. */
export async function profileHost<T>(fn: () => Promise<T>, options: { ownPaths?: string[] } = {}): Promise<{ value: T; profile: HostProfile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await session.post('Profiler.start');
    const t0 = performance.now();
    const value = await fn();
    const wallMs = performance.now() - t0;
    const { profile } = await session.post('Profiler.stop');
    return { value, profile: { wallMs, ...classifyProfile(profile, options.ownPaths ?? DEFAULT_OWN_PATHS) } };
  } finally {
    // Also the way out when fn throws: disconnecting disables the Profiler agent, which stops it.
    session.disconnect();
  }
}

/** Splits a V8 CPU profile (Profiler.stop, or a `--cpu-prof` file) by class; ownPaths are files or folders. */
export function classifyProfile(profile: Profiler.Profile, ownPaths: readonly string[] = DEFAULT_OWN_PATHS): HostSamples {
  const roots = ownPaths.map((p) => resolve(p));
  const nodeModules = `${sep}node_modules${sep}`;
  const webgpuDir = `${nodeModules}webgpu${sep}`;
  const isOwn = (path: string) => !path.includes(nodeModules) && roots.some((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep));

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // The leaf decides if it has a url or is a Dawn callback; a named native (builtin or Node
  // binding) takes the class of the nearest frame above it that does, so Float64Array#set
  // called from src/ is own while fs `read` called from node:fs is other.
  const verdicts = new Map<number, Verdict>();
  const classify = (leafId: number): Verdict => {
    const cached = verdicts.get(leafId);
    if (cached) return cached;
    const leaf = byId.get(leafId)!.callFrame;
    const meta = META_CLASS.get(leaf.functionName);
    let verdict: Verdict = { cls: meta ?? 'other' };
    if (meta === undefined) {
      for (let id: number | undefined = leafId; id !== undefined; id = parent.get(id)) {
        const f = byId.get(id)!.callFrame;
        if (isAddonCallback(f)) {
          verdict = { cls: 'webgpu' };
          break;
        }
        if (f.url === '') continue;
        const path = framePath(f.url);
        if (path?.includes(webgpuDir)) verdict = { cls: 'webgpu' };
        else if (path !== undefined && isOwn(path)) {
          const fnName = f.functionName || '(anonymous)';
          const name = id === leafId ? fnName : `${fnName} > ${leaf.functionName}`;
          verdict = { cls: 'own', key: `${name}|${f.url}|${f.lineNumber}|${f.columnNumber}`, name, where: `${basename(path)}:${f.lineNumber + 1}` };
        }
        break;
      }
    }
    verdicts.set(leafId, verdict);
    return verdict;
  };

  const ms: Record<HostClass, number> = { own: 0, webgpu: 0, gc: 0, idle: 0, program: 0, other: 0 };
  const own = new Map<string, OwnFunction>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // Node always returns samples and timeDeltas. Like DevTools, a sample lasts until the next
  // one (the last until endTime), and samples are put in time order first, as V8 can record
  // one a little out of order (a negative delta). The gap before the first sample is the
  // profiler starting up inside Profiler.start (about 10 ms here), before fn runs: left out.
  let t = profile.startTime;
  const stamps = deltas.map((d) => (t += d));
  const byTime = samples.map((_, i) => i).sort((a, b) => stamps[a]! - stamps[b]!);
  byTime.forEach((i, k) => {
    const next = byTime[k + 1];
    const dMs = ((next === undefined ? profile.endTime : stamps[next]!) - stamps[i]!) / 1000;
    const v = classify(samples[i]!);
    ms[v.cls] += dMs;
    if (v.key !== undefined) {
      const entry = own.get(v.key);
      if (entry) entry.ms += dMs;
      else own.set(v.key, { name: v.name!, where: v.where!, ms: dMs });
    }
  });
  const topOwn = [...own.values()].sort((a, b) => b.ms - a.ms).slice(0, TOP_OWN);
  return { ms, samples: samples.length, topOwn };
}

/** µs per item of own time, and of own plus webgpu time, for a call that handled n items. */
export function perItem(profile: HostSamples, n: number): { ownUs: number; ownWebgpuUs: number } {
  return { ownUs: (profile.ms.own * 1000) / n, ownWebgpuUs: ((profile.ms.own + profile.ms.webgpu) * 1000) / n };
}
