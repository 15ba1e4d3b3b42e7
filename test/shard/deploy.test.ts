// The engine recipes in deploy/: the Kubernetes Indexed Job validated against the batch/v1 Job
// schema (kubernetes-models: validators generated from Kubernetes' OpenAPI schema of a release that
// knows backoffLimitPerIndex, managedBy and successPolicy — kubeconform itself is neither a Debian
// bookworm nor an npm package), with unknown fields refused as kubeconform's -strict does and the
// API server's own rules for the fields it relies on; the Dockerfile's runtime pieces; the Slurm
// array script's directives and syntax.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

/** Fails with the path of every key of `obj` not in `allowed`. */
function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const extra = Object.keys(obj).filter((k) => !allowed.includes(k));
  expect(extra, `unknown fields in ${where}`).toEqual([]);
}

const isQuantity = (v: unknown) => (typeof v === 'number' && v >= 0) || (typeof v === 'string' && /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.test(v));

describe('deploy/kubernetes', () => {
  const docs = read('deploy/kubernetes/batchfit-job.yaml');
  const job = parse(docs) as Record<string, any>;

  it("is a valid batch/v1 Job by Kubernetes' schema; a wrong type or value is refused", () => {
    expect(() => new Job(job).validate()).not.toThrow();
    const broken = (edit: (j: Record<string, any>) => void): Record<string, any> => {
      const j = structuredClone(job);
      edit(j);
      return j;
    };
    expect(() => new Job(broken((j) => (j.spec.completionMode = 'indexed'))).validate()).toThrow(/completionMode/);
    expect(() => new Job(broken((j) => (j.spec.backoffLimitPerIndex = '3'))).validate()).toThrow(/backoffLimitPerIndex/);
    expect(() => new Job(broken((j) => delete j.spec.template.spec.containers[0].name)).validate()).toThrow(/name/);
  });

  it('is an Indexed Job with per-index retries and a failure policy Kubernetes accepts (no unknown field)', () => {
    onlyKeys(job, ['apiVersion', 'kind', 'metadata', 'spec'], 'Job');
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.kind).toBe('Job');
    expect(job.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/); // a DNS label: pod hostnames derive from it
    const spec = job.spec;
    onlyKeys(spec, ['completionMode', 'completions', 'parallelism', 'backoffLimit', 'backoffLimitPerIndex', 'maxFailedIndexes', 'podFailurePolicy', 'template', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished', 'suspend', 'selector', 'manualSelector', 'podReplacementPolicy', 'successPolicy'], 'Job.spec');
    expect(spec.completionMode).toBe('Indexed');
    for (const k of ['completions', 'parallelism', 'backoffLimitPerIndex', 'maxFailedIndexes']) expect(Number.isInteger(spec[k]) && spec[k] >= 0, k).toBe(true);
    // Validation rules of the API server for these fields:
    expect(spec.completions).toBeLessThanOrEqual(100_000); // Indexed: at most 10⁵ completions
    expect(spec.maxFailedIndexes).toBeLessThanOrEqual(spec.completions); // and needs backoffLimitPerIndex
    expect(spec.template.spec.restartPolicy).toBe('Never'); // backoffLimitPerIndex and podFailurePolicy need Never
    for (const rule of spec.podFailurePolicy.rules) {
      onlyKeys(rule, ['action', 'onExitCodes', 'onPodConditions'], 'podFailurePolicy rule');
      expect(['FailJob', 'Ignore', 'Count', 'FailIndex']).toContain(rule.action);
      expect((rule.onExitCodes === undefined) !== (rule.onPodConditions === undefined), 'exactly one of onExitCodes, onPodConditions').toBe(true);
      if (rule.onExitCodes !== undefined) {
        expect(['In', 'NotIn']).toContain(rule.onExitCodes.operator);
        expect(rule.onExitCodes.values.every((v: unknown) => Number.isInteger(v))).toBe(true);
        expect(rule.onExitCodes.values).not.toContain(0); // 0 is not allowed with In
        expect(spec.template.spec.containers.map((c: { name: string }) => c.name)).toContain(rule.onExitCodes.containerName);
      }
      for (const c of rule.onPodConditions ?? []) onlyKeys(c, ['type', 'status'], 'onPodConditions');
    }
  });

  it('runs `batchfit run` on the manifest with one GPU per shard; the index comes from JOB_COMPLETION_INDEX', () => {
    const pod = job.spec.template.spec;
    onlyKeys(pod, ['restartPolicy', 'containers', 'volumes', 'tolerations', 'nodeSelector', 'affinity'], 'pod spec');
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];
    onlyKeys(c, ['name', 'image', 'args', 'command', 'env', 'resources', 'volumeMounts'], 'container');
    expect(c.args.slice(0, 3)).toEqual(['run', '--manifest', '/data/job.json']);
    expect(c.args).not.toContain('--shard'); // batchfit reads JOB_COMPLETION_INDEX, which Kubernetes sets
    onlyKeys(c.resources, ['limits', 'requests'], 'resources');
    expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
    // An extended resource may not be overcommitted: a request, if given, must equal the limit.
    if (c.resources.requests['nvidia.com/gpu'] !== undefined) expect(c.resources.requests['nvidia.com/gpu']).toBe(c.resources.limits['nvidia.com/gpu']);
    for (const part of [c.resources.limits, c.resources.requests]) for (const v of Object.values(part)) expect(isQuantity(v), String(v)).toBe(true);
    // The manifest path is on a mounted volume.
    const mount = c.volumeMounts.find((m: { mountPath: string }) => '/data/job.json'.startsWith(`${m.mountPath}/`));
    expect(pod.volumes.map((v: { name: string }) => v.name)).toContain(mount.name);
  });

  it('builds an image that needs only the NVIDIA driver on the node', () => {
    const d = read('deploy/kubernetes/Dockerfile');
    expect(d).toMatch(/^FROM node:20-bookworm AS build$/m);
    expect(d).toMatch(/npm ci/);
    expect(d).toMatch(/npm run build && npm pack/);
    expect(d).toMatch(/apt-get install -y --no-install-recommends libvulkan1 libx11-6 libxext6/);
    expect(d).toMatch(/NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics/); // graphics: the toolkit mounts the Vulkan ICD
    expect(d).toMatch(/^ENTRYPOINT \["batchfit"\]$/m);
    // Every COPY source exists in the repository (the build context is the repository root).
    for (const m of d.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(root, src)), src).toBe(true);
  });
});

describe('deploy/slurm', () => {
  const script = read('deploy/slurm/batchfit-array.sbatch');
  it('is valid bash and asks for a GPU, requeue on preemption, and runs batchfit run on the array index', () => {
    expect(spawnSync('bash', ['-n', join(root, 'deploy/slurm/batchfit-array.sbatch')]).status).toBe(0);
    const directives = [...script.matchAll(/^#SBATCH (\S+)/gm)].map((m) => m[1]);
    expect(directives).toEqual(expect.arrayContaining(['--gres=gpu:1', '--requeue', '--open-mode=append', '--cpus-per-task=4', '--mem=4G']));
    expect(directives.some((d) => d!.startsWith('--array'))).toBe(false); // the range is the job's: given at submission
    expect(script).toMatch(/^exec \$\{BATCHFIT:-batchfit\} run --manifest "\$manifest" --workers "\$workers" "\$@"$/m);
  });
});
