/**
 * Validates deploy/k8s/*.yaml against the Kubernetes API schema, offline: nothing is applied
 * and nothing is downloaded (the schema ships in the kubernetes-models package, generated from
 * Kubernetes 1.27's OpenAPI document).
 *
 *   npm run build && node dist/scripts/validate-k8s.js [DIR]
 *
 * Three layers:
 * 1. schema: each object through kubernetes-models' validator for its apiVersion and kind
 *    (required fields, types, enums, int32/quantity formats);
 * 2. strict: unknown fields (a typo like `readinessProbes` passes the schema, which allows extra
 *    properties) are caught by type-checking each object as a TypeScript object literal of the
 *    package's generated interface, whose excess-property check rejects them (kubeconform's
 *    -strict, done with the TypeScript compiler the project already has);
 * 3. coherence: selectors match the pod labels, the Service targets a declared port, the HPA
 *    targets the Deployment, probes ask /healthz and /readyz on the image's port, the grace
 *    period covers preStop plus CONVD_SHUTDOWN_GRACE_MS, the HPA has CPU requests to measure, a
 *    memory limit is set and the memory budget (explicit, or half the limit) fits under it and
 *    holds a body of CONVD_MAX_BODY_BYTES, probe timeouts are at least 2 s.
 * Then it checks that it would reject broken copies (an unknown field, a wrong type, a missing
 * selector, a probe on the wrong path), so a validator that accepts everything fails CI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = resolve(process.argv[2] ?? join(ROOT, 'deploy/k8s'));

interface Kind {
  model: new (data: never) => { validate(): void };
  /** module and interface of the generated type, for the strict check */
  module: string;
  iface: string;
}
const KINDS: Record<string, Kind> = {
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment', iface: 'IDeployment' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', iface: 'IService' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    iface: 'IHorizontalPodAutoscaler',
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    module: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    iface: 'IPodDisruptionBudget',
  },
};

type Obj = Record<string, any>;
interface Manifest {
  file: string;
  obj: Obj;
}

const label = (m: Manifest) => `${m.file} ${m.obj?.kind ?? '?'}/${m.obj?.metadata?.name ?? '?'}`;

function load(directory: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of readdirSync(directory)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(directory, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
      const obj = doc.toJS() as Obj | null;
      if (obj !== null) manifests.push({ file, obj });
    }
  }
  return manifests;
}

/** Layer 1: the schema validator of each object's apiVersion and kind. */
function schemaErrors(manifests: Manifest[]): string[] {
  const errors: string[] = [];
  for (const m of manifests) {
    const kind = KINDS[`${m.obj.apiVersion}/${m.obj.kind}`];
    if (!kind) {
      errors.push(`${label(m)}: no schema here for apiVersion ${m.obj.apiVersion} kind ${m.obj.kind}`);
      continue;
    }
    try {
      new kind.model(m.obj as never).validate();
    } catch (err) {
      const details = (err as { errors?: { instancePath: string; message: string }[] }).errors;
      const lines = details?.map((e) => `${e.instancePath || '/'} ${e.message}`) ?? [(err as Error).message];
      for (const line of lines) errors.push(`${label(m)}: ${line}`);
    }
  }
  return errors;
}

/** Layer 2: excess properties, by type-checking the objects as literals of the generated interfaces. */
function strictErrors(manifests: Manifest[]): string[] {
  const known = manifests.filter((m) => KINDS[`${m.obj.apiVersion}/${m.obj.kind}`]);
  if (known.length === 0) return [];
  const source = known
    .map((m, i) => {
      const kind = KINDS[`${m.obj.apiVersion}/${m.obj.kind}`];
      return `import type { ${kind.iface} as T${i} } from '${kind.module}';\nexport const m${i}: T${i} = ${JSON.stringify(m.obj, null, 2)};\n`;
    })
    .join('\n');
  const fileName = join(ROOT, '__k8s_manifests__.ts'); // beside node_modules, for module resolution; never written
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, source, languageVersion, true)
      : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const lines = source.split('\n');
  // which manifest each generated line belongs to
  const owner: number[] = [];
  let current = -1;
  for (const line of lines) {
    const match = /^export const m(\d+):/.exec(line);
    if (match) current = Number(match[1]);
    owner.push(current);
  }
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== fileName || d.start === undefined) return `strict check: ${message}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const m = known[owner[line]];
    return `${m ? label(m) : '?'}: ${message} (at ${lines[line].trim()})`;
  });
}

/** Bytes of a Kubernetes memory quantity (512Mi, 2Gi, 1G, 1e9...), or null. */
function quantityBytes(q: unknown): number | null {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) return null;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

const matches = (selector: Obj | undefined, labels: Obj | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Layer 3: the objects agree with each other and with the image. */
function coherenceErrors(manifests: Manifest[]): string[] {
  const errors: string[] = [];
  const of = (kind: string) => manifests.filter((m) => m.obj.kind === kind);
  const deployments = of('Deployment');
  if (deployments.length !== 1) return [`expected one Deployment, found ${deployments.length}`];
  const dep = deployments[0].obj;
  const podLabels = dep.spec?.template?.metadata?.labels;
  const pod = dep.spec?.template?.spec ?? {};
  const container = pod.containers?.[0] ?? {};
  const where = label(deployments[0]);
  if (!matches(dep.spec?.selector?.matchLabels, podLabels))
    errors.push(`${where}: spec.selector does not match the pod template labels`);

  const exposed = Number(/^EXPOSE\s+(\d+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]);
  const ports: Obj[] = container.ports ?? [];
  const port = ports.find((p) => p.containerPort === exposed);
  if (!port) errors.push(`${where}: no containerPort ${exposed} (the Dockerfile's EXPOSE)`);
  const env = Object.fromEntries((container.env ?? []).map((e: Obj) => [e.name, e.value]));
  if (env.PORT !== undefined && Number(env.PORT) !== exposed)
    errors.push(`${where}: PORT ${env.PORT} is not the exposed ${exposed}`);
  const probePort = (probe: Obj | undefined) => probe?.httpGet?.port;
  const onPort = (p: unknown) => p === exposed || (typeof p === 'string' && p === port?.name);
  for (const [name, path] of [
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ] as const) {
    const probe = container[name];
    if (probe?.httpGet?.path !== path) errors.push(`${where}: ${name} must GET ${path}, not ${probe?.httpGet?.path}`);
    else if (!onPort(probePort(probe)))
      errors.push(`${where}: ${name} port ${probePort(probe)} is not the container port`);
  }
  const preStopSleep = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
  const graceMs = Number(env.CONVD_SHUTDOWN_GRACE_MS ?? 8000);
  const terminationMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
  if (preStopSleep * 1000 + graceMs >= terminationMs) {
    errors.push(
      `${where}: preStop ${preStopSleep} s + CONVD_SHUTDOWN_GRACE_MS ${graceMs} ms leave no room in terminationGracePeriodSeconds ${terminationMs / 1000}`,
    );
  }
  // memory: a limit, and a budget for requests in flight (explicit, or half the limit by default) below it that holds a body of the largest size
  const memoryLimit = quantityBytes(container.resources?.limits?.memory);
  if (memoryLimit === null)
    errors.push(`${where}: no memory limit (resources.limits.memory): convd derives its memory budget from it`);
  else {
    const budget =
      env.CONVD_MEMORY_BUDGET_BYTES !== undefined ? Number(env.CONVD_MEMORY_BUDGET_BYTES) : Math.floor(memoryLimit / 2);
    const maxBody = Number(env.CONVD_MAX_BODY_BYTES ?? 64 * 2 ** 20);
    if (!(budget < memoryLimit))
      errors.push(`${where}: CONVD_MEMORY_BUDGET_BYTES ${budget} is not below the memory limit ${memoryLimit}`);
    if (!(budget >= maxBody))
      errors.push(`${where}: the memory budget ${budget} cannot hold one body of CONVD_MAX_BODY_BYTES ${maxBody}`);
  }
  for (const name of ['livenessProbe', 'readinessProbe'] as const) {
    const timeout = container[name]?.timeoutSeconds ?? 1;
    if (timeout < 2)
      errors.push(`${where}: ${name} timeoutSeconds ${timeout} is below 2 s, too tight for a busy replica`);
  }
  if (pod.securityContext?.runAsUser !== 1000 || pod.securityContext?.runAsNonRoot !== true)
    errors.push(`${where}: pods must run as the image's node user (uid 1000), non-root`);

  for (const svc of of('Service')) {
    if (!matches(svc.obj.spec?.selector, podLabels))
      errors.push(`${label(svc)}: selector does not select the Deployment's pods`);
    for (const p of svc.obj.spec?.ports ?? []) {
      if (!onPort(p.targetPort)) errors.push(`${label(svc)}: targetPort ${p.targetPort} is not a container port`);
    }
  }
  for (const hpa of of('HorizontalPodAutoscaler')) {
    const ref = hpa.obj.spec?.scaleTargetRef ?? {};
    if (ref.kind !== 'Deployment' || ref.name !== dep.metadata?.name || ref.apiVersion !== dep.apiVersion) {
      errors.push(`${label(hpa)}: scaleTargetRef is not the Deployment ${dep.metadata?.name}`);
    }
    const usesCpu = (hpa.obj.spec?.metrics ?? []).some((m: Obj) => m.resource?.name === 'cpu');
    if (usesCpu && !container.resources?.requests?.cpu)
      errors.push(`${label(hpa)}: scales on CPU utilisation but the container requests no CPU`);
    if ((hpa.obj.spec?.minReplicas ?? 1) > hpa.obj.spec?.maxReplicas)
      errors.push(`${label(hpa)}: minReplicas > maxReplicas`);
  }
  for (const pdb of of('PodDisruptionBudget')) {
    if (!matches(pdb.obj.spec?.selector?.matchLabels, podLabels))
      errors.push(`${label(pdb)}: selector does not select the Deployment's pods`);
  }
  return errors;
}

const validate = (manifests: Manifest[]) => [
  ...schemaErrors(manifests),
  ...strictErrors(manifests),
  ...coherenceErrors(manifests),
];

const manifests = load(dir);
const errors = validate(manifests);
if (errors.length > 0) {
  console.error(`deploy/k8s: ${errors.length} problem(s)\n  ${errors.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `deploy/k8s: ${manifests.map((m) => `${m.obj.kind}/${m.obj.metadata.name}`).join(', ')} valid (Kubernetes 1.27 schema, strict fields, coherent)`,
);

// the validator itself: each broken copy must be rejected
const broken: [string, (objs: Obj[]) => void][] = [
  [
    'an unknown field (readinessProbes)',
    (o) => (o.find((x) => x.kind === 'Deployment')!.spec.template.spec.containers[0].readinessProbes = {}),
  ],
  ['a wrong type (replicas: "three")', (o) => (o.find((x) => x.kind === 'Deployment')!.spec.replicas = 'three')],
  [
    'a missing required field (Deployment selector)',
    (o) => delete o.find((x) => x.kind === 'Deployment')!.spec.selector,
  ],
  ['a bad enum (Service type)', (o) => (o.find((x) => x.kind === 'Service')!.spec.type = 'Balancer')],
  [
    'a readiness probe on /healthz',
    (o) =>
      (o.find((x) => x.kind === 'Deployment')!.spec.template.spec.containers[0].readinessProbe.httpGet.path =
        '/healthz'),
  ],
  [
    'no memory limit',
    (o) => delete o.find((x) => x.kind === 'Deployment')!.spec.template.spec.containers[0].resources.limits.memory,
  ],
  [
    'a liveness probe timeout of 1 s',
    (o) => (o.find((x) => x.kind === 'Deployment')!.spec.template.spec.containers[0].livenessProbe.timeoutSeconds = 1),
  ],
  [
    'an HPA aimed elsewhere',
    (o) => (o.find((x) => x.kind === 'HorizontalPodAutoscaler')!.spec.scaleTargetRef.name = 'other'),
  ],
];
for (const [what, breakIt] of broken) {
  const copy = manifests.map((m) => ({ file: m.file, obj: structuredClone(m.obj) }));
  breakIt(copy.map((m) => m.obj));
  const found = validate(copy);
  if (found.length === 0) {
    console.error(`validate-k8s: a copy with ${what} was accepted`);
    process.exit(1);
  }
  console.log(`  rejects ${what}: ${found[0]}`);
}
