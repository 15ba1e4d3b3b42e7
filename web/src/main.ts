// The app's entry: tabs, the device line (WebGPU adapter, CPU workers), and the two panels.
import { availableThreads, canShareMemory } from '../../src/cpu/workerPool.js';
import { GpuContext } from '../../src/gpu/context.js';
import { setupStars } from './stars.js';
import { setupXafs } from './xafs.js';
import { byId } from './ui.js';

/** The page's one WebGPU context, created on first use (device: 'gpu'); 'auto' lets the library decide. */
export interface GpuHandle {
  context(): Promise<GpuContext>;
  adapter: string;
}

function tabs(): void {
  const pairs = [['tab-xafs', 'xafs'], ['tab-stars', 'stars']] as const;
  for (const [tab, panel] of pairs) {
    byId(tab).addEventListener('click', () => {
      for (const [t, p] of pairs) {
        byId(t).setAttribute('aria-selected', String(t === tab));
        byId(p).hidden = p !== panel;
      }
    });
  }
}

async function main(): Promise<void> {
  tabs();
  let ctx: Promise<GpuContext> | null = null;
  const gpu: GpuHandle = {
    adapter: 'WebGPU',
    context: () => (ctx ??= GpuContext.create()),
  };
  setupXafs(gpu);
  setupStars(gpu);
  const threads = await availableThreads();
  const cpu = `CPU: ${threads} Web Workers${canShareMemory() ? ' sharing memory (cross-origin isolated)' : ' (no shared memory: rows are copied back)'}`;
  const line = byId('device');
  try {
    const c = await gpu.context();
    gpu.adapter = c.describe();
    const soft = c.adapterInfo.isFallbackAdapter;
    line.textContent = `WebGPU: ${gpu.adapter}${soft ? ' — a software adapter: device “auto” runs on the CPU' : ''} · ${cpu}`;
    line.dataset.gpu = soft ? 'software' : 'hardware';
  } catch (e) {
    line.textContent = `No WebGPU here (${e instanceof Error ? e.message : String(e)}): everything runs on the CPU · ${cpu}`;
    line.dataset.gpu = 'none';
  }
  document.body.dataset.ready = 'true';
}

void main();
