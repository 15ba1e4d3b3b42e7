/** Compiled compute pipelines, cached per device by shader, entry point and override constants. */
import { GpuDeviceError, type GpuContext } from './context.js';
import { wgslSources } from './wgsl.generated.js';

const modules = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();
const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function perDevice<T>(map: WeakMap<GPUDevice, Map<string, T>>, device: GPUDevice): Map<string, T> {
  let m = map.get(device);
  if (m === undefined) {
    m = new Map();
    map.set(device, m);
  }
  return m;
}

/** WGSL source of `shaders/<name>.wgsl`. */
export function shaderSource(name: string): string {
  const src = wgslSources[name];
  if (src === undefined) throw new Error(`unknown shader '${name}' (known: ${Object.keys(wgslSources).join(', ')})`);
  return src;
}

async function shaderModule(ctx: GpuContext, name: string): Promise<GPUShaderModule> {
  const cache = perDevice(modules, ctx.device);
  let mod = cache.get(name);
  if (mod === undefined) {
    mod = ctx.device.createShaderModule({ label: name, code: shaderSource(name) });
    const info = await mod.getCompilationInfo();
    if (info.messages.some((m) => m.type === 'error')) {
      // With the notes (type 'info') that follow each error: they name, e.g., the value that
      // made control flow non-uniform for a barrier or a subgroup operation.
      const text = info.messages
        .filter((m) => m.type !== 'warning')
        .map((m) => `${name}.wgsl:${m.lineNum}:${m.linePos}: ${m.type === 'info' ? 'note: ' : ''}${m.message}`)
        .join('\n');
      throw new GpuDeviceError(`WGSL compilation failed:\n${text}`);
    }
    cache.set(name, mod);
  }
  return mod;
}

/** The pipeline for `entryPoint` of `shaders/<name>.wgsl` with the given override constants. */
export async function computePipeline(
  ctx: GpuContext,
  name: string,
  entryPoint: string,
  constants: Record<string, number> = {},
): Promise<GPUComputePipeline> {
  const keys = Object.keys(constants).sort();
  const key = `${name}:${entryPoint}:${keys.map((k) => `${k}=${constants[k]}`).join(',')}`;
  const cache = perDevice(pipelines, ctx.device);
  let p = cache.get(key);
  if (p === undefined) {
    const module = await shaderModule(ctx, name);
    ctx.device.pushErrorScope('validation');
    p = await ctx.device.createComputePipelineAsync({
      label: key,
      layout: 'auto',
      compute: { module, entryPoint, constants },
    });
    const err = await ctx.device.popErrorScope();
    if (err) throw new GpuDeviceError(`pipeline ${key}: ${err.message}`);
    cache.set(key, p);
  }
  return p;
}
