/**
 * Acquiring a WebGPU device in Node (Dawn through the `webgpu` package) or in a browser
 * (`navigator.gpu`), and surfacing device loss and validation errors as exceptions.
 */

/** No WebGPU adapter could be obtained; callers catch this to fall back to the CPU path. */
export class GpuUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpuUnavailableError';
  }
}

/** The device was lost, or a command it was given failed validation or ran out of memory. */
export class GpuDeviceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpuDeviceError';
  }
}

/** What the adapter says of itself, for logs, test output and benchmark labels. */
export interface AdapterDescription {
  /** `GPUAdapterInfo.vendor`, e.g. 'nvidia', 'mesa', 'google' (empty when the browser hides it). */
  vendor: string;
  /** `GPUAdapterInfo.architecture`, e.g. 'hopper', 'llvm', 'swiftshader'. */
  architecture: string;
  /** `GPUAdapterInfo.device` (may be empty). */
  device: string;
  /** `GPUAdapterInfo.description`, the driver's own name for the adapter (may be empty). */
  description: string;
  /** A software or otherwise degraded adapter (lavapipe, SwiftShader). */
  isFallbackAdapter: boolean;
}

/** The limits this library raises above the WebGPU defaults, up to what the adapter offers. */
const RAISED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

/** How `GpuContext.create` finds its adapter and device. */
export interface GpuContextOptions {
  /** A `GPU` object to use instead of `navigator.gpu` or Dawn (tests, embedding). */
  gpu?: GPU;
  /** Passed to `requestAdapter` ('high-performance' picks a discrete GPU where there are two; default none). */
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles for Node, e.g. `adapter=NVIDIA` or `backend=vulkan`. */
  dawnFlags?: string[];
  /**
   * Request the `subgroups` feature when the adapter offers it (default true). `false` gives a
   * device without it, on which kernels take their workgroup-memory builds: how tests run both
   * builds of a kernel on one machine.
   */
  subgroups?: boolean;
}

/**
 * Dawn's `create()` result. Held at module level because if it becomes unreachable while a
 * device lives, V8 may collect it and Dawn crashes in its event processing.
 */
let dawnGpu: GPU | undefined;

async function defaultGpu(dawnFlags: readonly string[]): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
  if (!isNode) throw new GpuUnavailableError('WebGPU is not available: navigator.gpu is undefined in this browser');
  if (dawnGpu === undefined) {
    let mod: { create: (flags: string[]) => GPU };
    try {
      // A variable specifier keeps browser bundlers from trying to resolve the native module.
      const name = 'webgpu';
      mod = (await import(name)) as typeof mod;
    } catch (e) {
      throw new GpuUnavailableError(`the 'webgpu' package could not be loaded: ${(e as Error).message}`, { cause: e });
    }
    // Full-resolution timestamps: Dawn quantizes them by default.
    dawnGpu = mod.create(['disable-dawn-features=timestamp_quantization', ...dawnFlags]);
  }
  return dawnGpu;
}

/** A device with the limits this library needs, its adapter's description and error tracking. */
export class GpuContext {
  /** The `GPU` entry point used: `navigator.gpu`, Dawn's in Node, or the one given in the options. */
  readonly gpu: GPU;
  /** The adapter the device came from. */
  readonly adapter: GPUAdapter;
  /** The device every kernel of this context runs on. */
  readonly device: GPUDevice;
  /** The adapter's vendor, architecture and description, read once. */
  readonly adapterInfo: AdapterDescription;
  /** The device has `timestamp-query`: kernels report GPU times (`kernelMs`). */
  readonly hasTimestamps: boolean;
  /** The device has the `subgroups` feature (WGSL `enable subgroups;`). */
  readonly hasSubgroups: boolean;
  private lost: GPUDeviceLostInfo | undefined;
  private uncaptured: GPUError | undefined;
  private readonly pendingScopes: Promise<GPUError | null>[] = [];

  private constructor(gpu: GPU, adapter: GPUAdapter, device: GPUDevice) {
    this.gpu = gpu;
    this.adapter = adapter;
    this.device = device;
    const i = adapter.info;
    this.adapterInfo = {
      vendor: i.vendor,
      architecture: i.architecture,
      device: i.device,
      description: i.description,
      isFallbackAdapter: Boolean((i as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    };
    this.hasTimestamps = device.features.has('timestamp-query');
    this.hasSubgroups = device.features.has('subgroups');
    void device.lost.then((info) => {
      this.lost = info;
    });
    device.addEventListener('uncapturederror', (ev) => {
      this.uncaptured ??= (ev as GPUUncapturedErrorEvent).error;
    });
  }

  /**
   * Finds an adapter and requests a device with the limits the kernels need (each raised up to
   * what the adapter offers). Throws `GpuUnavailableError` when there is no WebGPU or no adapter.
   */
  static async create(options: GpuContextOptions = {}): Promise<GpuContext> {
    const gpu = options.gpu ?? (await defaultGpu(options.dawnFlags ?? []));
    let adapter: GPUAdapter | null;
    try {
      adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
    } catch (e) {
      throw new GpuUnavailableError(`requestAdapter failed: ${(e as Error).message}`, { cause: e });
    }
    if (!adapter) {
      throw new GpuUnavailableError(
        'no WebGPU adapter found (in Node this needs a Vulkan driver: a GPU driver, or Mesa lavapipe for a software one)',
      );
    }
    const requiredLimits: Record<string, number> = {};
    for (const name of RAISED_LIMITS) {
      const v = adapter.limits[name];
      if (typeof v === 'number') requiredLimits[name] = v;
    }
    const requiredFeatures: GPUFeatureName[] = [];
    // Only names the adapter lists are requested: an unknown feature name (an older browser that
    // has never heard of `subgroups`) would make requestDevice throw.
    if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
    if (options.subgroups !== false && adapter.features.has('subgroups')) requiredFeatures.push('subgroups');
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    } catch (e) {
      throw new GpuUnavailableError(`requestDevice failed: ${(e as Error).message}`, { cause: e });
    }
    return new GpuContext(gpu, adapter, device);
  }

  /** The device's limits (what was granted, not the WebGPU defaults). */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** One line naming the adapter, e.g. "mesa software llvmpipe (fallback)". */
  describe(): string {
    const a = this.adapterInfo;
    const name = [a.vendor, a.architecture, a.device || a.description].filter((s) => s).join(' ');
    return `${name || 'unknown adapter'}${a.isFallbackAdapter ? ' (fallback)' : ''}`;
  }

  /** Whether the device is lost (destroyed, reset, or its driver gone). */
  get isLost(): boolean {
    return this.lost !== undefined;
  }

  /** Throws if the device was lost or an earlier command failed outside an error scope. */
  assertUsable(): void {
    if (this.lost) throw new GpuDeviceError(`GPU device lost (${this.lost.reason}): ${this.lost.message}`);
    if (this.uncaptured) throw new GpuDeviceError(`GPU error: ${this.uncaptured.message}`);
  }

  /**
   * Encodes and submits commands inside validation and out-of-memory error scopes. Errors come
   * back from the next `settle()` (which every read-back awaits), so a bad command is reported
   * where its results would have been used.
   */
  submit(encode: (encoder: GPUCommandEncoder) => void): void {
    this.assertUsable();
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    const encoder = d.createCommandEncoder();
    encode(encoder);
    d.queue.submit([encoder.finish()]);
    this.pendingScopes.push(d.popErrorScope(), d.popErrorScope());
  }

  /** Waits for every submitted command's error scopes; throws the first error. */
  async settle(): Promise<void> {
    const scopes = this.pendingScopes.splice(0);
    const errors = await Promise.all(scopes);
    this.assertUsable();
    const first = errors.find((e) => e !== null);
    if (first) throw new GpuDeviceError(`GPU command failed: ${first.message}`);
  }

  /** Destroys the device; buffers and pipelines made on it become unusable. */
  destroy(): void {
    this.device.destroy();
  }
}

/** Shortcut for `GpuContext.create`. */
export function requestGpuContext(options?: GpuContextOptions): Promise<GpuContext> {
  return GpuContext.create(options);
}
