/**
 * What a run on a swarm is, as the Swarm API takes it: a service in replicated-job mode (one task,
 * never restarted), its image by digest, its propagated variables in one Swarm secret (never in the
 * spec), its resources and placement. Pure: the executor sends what these functions return.
 */
import { policyEnvironment, swarmRestartPolicy, type RunPolicy } from '../attempts.js';
import { RUN_LABELS } from '../docker/labels.js';
import { parseMemory } from '../dockerOptions.js';

/** A run's policy on its service, so any checkout that finds the run knows when it has ended. */
export const POLICY_LABELS = { retries: 'ferry.retries', timeoutMs: 'ferry.timeout-ms' } as const;

/** The policy a service's labels carry (untrusted: a bad label counts as none). */
export function policyOfLabels(labels: Readonly<Record<string, string>> | undefined): RunPolicy {
  const retries = Number(labels?.[POLICY_LABELS.retries]);
  const timeoutMs = Number(labels?.[POLICY_LABELS.timeoutMs]);
  return {
    retries: Number.isInteger(retries) && retries >= 0 ? retries : 0,
    ...(Number.isInteger(timeoutMs) && timeoutMs > 0 ? { timeoutMs } : {}),
  };
}

/** What a swarm run's task container is, in its `ferry.role` label. */
export const TASK_ROLE = 'swarm-task';

/** Where a run's secret is mounted in its container, and what the loader reads. */
export const SECRET_FILE = 'ferry-env';
const SECRET_PATH = `/run/secrets/${SECRET_FILE}`;

/**
 * Node code that reads the run's secret (a JSON object of variables) into `process.env`, then
 * imports the image's entry file (its path is the next argument). Code, never a secret: the
 * values stay in the secret's file, a tmpfs only this task sees.
 */
export const ENV_LOADER = [
  "const fs = require('node:fs');",
  `const values = JSON.parse(fs.readFileSync(${JSON.stringify(SECRET_PATH)}, 'utf8'));`,
  'for (const [name, value] of Object.entries(values)) {',
  "  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && typeof value === 'string') process.env[name] = value;",
  '}',
  "import(require('node:url').pathToFileURL(process.argv[1]).href);",
].join('\n');

export interface SwarmResources {
  readonly cpus?: number;
  readonly memory?: number | string;
}

export interface GenericResourceRequest {
  readonly kind: string;
  readonly count: number;
}

export interface SwarmRunSettings {
  readonly reservations?: SwarmResources;
  readonly limits?: SwarmResources;
  /**
   * Generic resources each run reserves, as nodes advertise them (dockerd `--node-generic-resource
   * NVIDIA-GPU=GPU-…`): `{ kind: 'NVIDIA-GPU', count: 1 }`. The swarm places the task on a node
   * with that many free and tells the container which (`DOCKER_RESOURCE_NVIDIA_GPU`).
   */
  readonly genericResources?: readonly GenericResourceRequest[];
  readonly constraints?: readonly string[];
  /** Seconds between SIGTERM and SIGKILL when the run is stopped. Default: 10. */
  readonly stopGraceSeconds?: number;
}

export interface ServiceSpecInput {
  readonly name: string;
  /** `<registry>/<name>@sha256:…`. */
  readonly image: string;
  /** The image's ENTRYPOINT (`["node", "/app/entry.mjs"]`): the loader runs it after the secret. */
  readonly entrypoint: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** Variables that are not secret (the run's parameters): in the spec, as any `docker run -e`. */
  readonly env: readonly string[];
  /** The run's secret, when it has propagated variables. */
  readonly secret?: { readonly id: string; readonly name: string };
  readonly settings: SwarmRunSettings;
  /** Retries (a new task per attempt, placed anew) and each attempt's timeout. Default: none. */
  readonly policy?: RunPolicy;
}

/** `ferry-<job>-<run id>` as a service name: letters, digits and `-`, at most 63. */
export function serviceName(jobName: string, runId: string): string {
  return trimName(`ferry-${jobName}-${runId}`);
}

/** The name of a run's secret. */
export function secretName(jobName: string, runId: string): string {
  return trimName(`ferry-${jobName}-${runId}-env`);
}

function trimName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9-]/g, '-').replace(/-+/g, '-');
  // The run id is at the end and is what keeps names apart: cut the job name, not the id.
  return clean.length <= 63
    ? clean
    : `${clean.slice(0, 30)}-${clean.slice(-32)}`.replace(/-+/g, '-');
}

/** The secret's content: the propagated variables as one JSON object. */
export function secretData(env: Readonly<Record<string, string>>): string {
  return Buffer.from(JSON.stringify(env), 'utf8').toString('base64');
}

/** The service spec of one run. */
export function serviceSpec(input: ServiceSpecInput): Record<string, unknown> {
  const { settings } = input;
  const command =
    input.secret === undefined
      ? undefined
      : [input.entrypoint[0] ?? 'node', '-e', ENV_LOADER, ...input.entrypoint.slice(1)];
  const policy = input.policy ?? { retries: 0 };
  return {
    Name: input.name,
    Labels: {
      ...input.labels,
      ...(policy.retries === 0 ? {} : { [POLICY_LABELS.retries]: String(policy.retries) }),
      ...(policy.timeoutMs === undefined
        ? {}
        : { [POLICY_LABELS.timeoutMs]: String(policy.timeoutMs) }),
    },
    TaskTemplate: {
      ContainerSpec: {
        Image: input.image,
        // Not the run's labels: a task placed on a manager that is also someone's local target
        // must not look like a local run (`ferry.role=run`) to that target's listings.
        Labels: { [RUN_LABELS.role]: TASK_ROLE },
        Env: [...input.env, ...policyEnvironment(policy)],
        ...(command === undefined ? {} : { Command: command }),
        ...(input.secret === undefined
          ? {}
          : {
              Secrets: [
                {
                  File: { Name: SECRET_FILE, UID: '0', GID: '0', Mode: 0o400 },
                  SecretID: input.secret.id,
                  SecretName: input.secret.name,
                },
              ],
            }),
        StopGracePeriod: (settings.stopGraceSeconds ?? 10) * 1e9,
      },
      Resources: {
        ...resources('Limits', settings.limits),
        ...reservations(settings.reservations, settings.genericResources),
      },
      RestartPolicy: swarmRestartPolicy(policy),
      Placement: { Constraints: [...(settings.constraints ?? [])] },
    },
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  };
}

/** Reservations: CPUs and memory, and the generic resources (GPUs) a node must have free. */
function reservations(
  value: SwarmResources | undefined,
  generic: readonly GenericResourceRequest[] | undefined,
): Record<string, unknown> {
  const base = resources('Reservations', value) as { Reservations?: Record<string, unknown> };
  if (generic === undefined || generic.length === 0) return base;
  return {
    Reservations: {
      ...base.Reservations,
      GenericResources: generic.map((g) => ({
        DiscreteResourceSpec: { Kind: g.kind, Value: g.count },
      })),
    },
  };
}

/** A node's generic resources as `GET /nodes` reports them (the parts Ferry reads). */
export interface AdvertisedResources {
  readonly ID: string;
  readonly Description?: {
    readonly Hostname?: string;
    readonly Resources?: {
      readonly GenericResources?: readonly {
        readonly DiscreteResourceSpec?: { readonly Kind?: string; readonly Value?: number };
        readonly NamedResourceSpec?: { readonly Kind?: string; readonly Value?: string };
      }[];
    };
  };
}

/** How many of `kind` a node advertises (each named resource counts one). */
export function advertised(node: AdvertisedResources, kind: string): number {
  let count = 0;
  for (const r of node.Description?.Resources?.GenericResources ?? []) {
    if (r.DiscreteResourceSpec?.Kind === kind) count += r.DiscreteResourceSpec.Value ?? 0;
    if (r.NamedResourceSpec?.Kind === kind) count += 1;
  }
  return count;
}

/**
 * What is wrong with asking for these generic resources on these nodes: undefined when some node
 * advertises enough of each, else a message saying what was asked and what nodes have.
 */
export function genericResourceProblem(
  requests: readonly GenericResourceRequest[],
  nodes: readonly AdvertisedResources[],
): string | undefined {
  for (const request of requests) {
    if (nodes.some((node) => advertised(node, request.kind) >= request.count)) continue;
    const have = nodes
      .map(
        (n) =>
          `${n.Description?.Hostname ?? '?'} (${n.ID.slice(0, 12)}): ${advertised(n, request.kind)}`,
      )
      .join(', ');
    return `each run asks for ${request.count} ${request.kind}, and no node of the swarm advertises that many (${have}); start the GPU nodes' dockerd with --node-generic-resource ${request.kind}=<device id> (and the NVIDIA runtime), or lower gpus`;
  }
  return undefined;
}

function resources(
  key: 'Limits' | 'Reservations',
  value: SwarmResources | undefined,
): Record<string, unknown> {
  if (value === undefined || (value.cpus === undefined && value.memory === undefined)) return {};
  return {
    [key]: {
      ...(value.cpus === undefined ? {} : { NanoCPUs: Math.round(value.cpus * 1e9) }),
      ...(value.memory === undefined ? {} : { MemoryBytes: parseMemory(value.memory) }),
    },
  };
}
