/**
 * `ferry.config.json` as one zod schema: what each key accepts, its message when it does not, its
 * default, and how it resolves (paths made absolute from the config's folder). The config types
 * are inferred from it, `validateConfig` parses with it, and `schema/ferry.config.schema.json` (for
 * editors) is generated from it (`npm run schema`).
 */
import os from 'node:os';
import path from 'node:path';
import validVersion from 'semver/functions/valid.js';
import { z } from 'zod';
import { DEPENDENCY_MODES, IMAGE_PLATFORMS } from '../containering/platform.js';
import { assetGlobProblem } from '../packaging/assets.js';
import { jobParametersSchema, type JobParameters } from '../parameters/index.js';
import { parseMemory } from '../routines/dockerOptions.js';
import { MAX_RETRIES, parseDuration } from '../routines/attempts.js';
import { InvalidDockerOptionsError, InvalidRunPolicyError } from '../routines/errors.js';
import { expected, show } from '../validation/issues.js';
import { strictObject } from '../validation/objects.js';

export const CONFIG_FILE_NAME = 'ferry.config.json';

const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EXPORT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const IMAGE_NAME =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const NOT_BLANK = /\S/;

/** The socket a remote engine listens on unless `dockerSocket` says otherwise. */
export const DEFAULT_REMOTE_DOCKER_SOCKET = '/var/run/docker.sock';

/** Resolves a config path: `~/…` from the home folder, relative from the config's folder. */
export function resolvePath(root: string, value: string): string {
  if (value === '~') return os.homedir();
  if (value.startsWith('~/')) return path.join(os.homedir(), value.slice(2));
  return path.resolve(root, value);
}

/** Every level readonly, as the config is handed out (parameters keep their own type). */
type DeepReadonly<T> = T extends JobParameters
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** A non-empty string, optionally matching `pattern`; `hint` says what is expected. */
function text(hint: string, options: { pattern?: RegExp; required?: string } = {}) {
  const error = expected(hint, options.required);
  const schema = z.string(error).regex(NOT_BLANK, error);
  return options.pattern === undefined ? schema : schema.regex(options.pattern, error);
}

/** A list of strings each matching `pattern`. */
function textList(hint: string, pattern: RegExp) {
  return z.array(text(hint, { pattern }), expected(`a list of ${hint}`));
}

/** A path on this machine, relative to the config's folder (or `~/`), made absolute. */
function localPath(root: string, hint = 'a path', required?: string) {
  return text(hint, required === undefined ? {} : { required }).transform((value) =>
    resolvePath(root, value),
  );
}

/** Where a Docker target runs: local paths resolve here, a remote host's must be absolute there. */
type Side = { readonly kind: 'local'; readonly root: string } | { readonly kind: 'remote' };

/** A folder on the target's host: resolved from the config's folder for a local target. */
function hostPath(side: Side, hint: string) {
  if (side.kind === 'local') return localPath(side.root, hint);
  return text(`${hint} (absolute: it is a path on the remote host)`, { pattern: /^\// });
}

function jobSchema(root: string) {
  const exportName = text('an export name such as "createJob"', { pattern: EXPORT_NAME });
  const shorthand = z
    .string()
    .regex(/^[^#]*[^#\s][^#]*(?:#[A-Za-z_$][A-Za-z0-9_$]*)?$/, {
      error: (issue) =>
        `expected "module#export" (an export name after #) or { module, export }, got ${show(issue.input)}`,
    })
    .transform((value) => {
      const [module = '', name = 'default'] = value.split('#');
      return { module: resolvePath(root, module), export: name };
    });
  const object = strictObject({
    module: localPath(
      root,
      'the path of the module exporting the job',
      'is required: the module exporting the job or a function creating it',
    ),
    export: exportName.default('default'),
  });
  return z.union([shorthand, object], {
    error: (issue) =>
      issue.input === undefined
        ? 'is required: { "module": "src/job.ts", "export": "createJob" }'
        : `expected "module#export" or { module, export }, got ${show(issue.input)}`,
  });
}

const MOUNT_FORM = '"/host/path:/container/path" with an optional ":ro"';

function mountSchema(side: Side) {
  const containerPath = text('an absolute path in the container', { pattern: /^\// });
  const short = z
    .string()
    .refine(
      (value) => {
        const parts = value.split(':');
        const [host = '', container = '', mode] = parts;
        return (
          parts.length >= 2 &&
          parts.length <= 3 &&
          host !== '' &&
          (side.kind === 'local' || host.startsWith('/')) &&
          container.startsWith('/') &&
          (mode === undefined || mode === 'ro' || mode === 'rw')
        );
      },
      {
        error: (issue) =>
          side.kind === 'local'
            ? `expected "host/path:/container/path" with an optional ":ro" (the host path absolute, or relative to the config's folder), got ${show(issue.input)}`
            : `expected ${MOUNT_FORM} (the host path absolute: it is on the remote host), got ${show(issue.input)}`,
      },
    )
    .transform((value) => {
      const [host = '', container = '', mode] = value.split(':');
      return {
        hostPath: side.kind === 'local' ? resolvePath(side.root, host) : host,
        containerPath: container,
        readOnly: mode === 'ro',
      };
    });
  const object = strictObject({
    host: hostPath(side, 'the folder or file to mount from the host'),
    container: containerPath,
    readOnly: z.boolean(expected('true or false')).default(false),
  }).transform(({ host, container, readOnly }) => ({
    hostPath: host,
    containerPath: container,
    readOnly,
  }));
  return z.union([short, object], {
    error: (issue) =>
      `expected ${MOUNT_FORM} or { host, container, readOnly }, got ${show(issue.input)}`,
  });
}

const limitsSchema = strictObject({
  cpus: z
    .number(expected('a positive number of CPUs such as 1.5'))
    .positive(expected('a positive number of CPUs such as 1.5'))
    .optional(),
  memory: z
    .union([z.number(), z.string()], expected('bytes or a size such as "4g"'))
    .refine((value) => {
      try {
        parseMemory(value);
        return true;
      } catch (error) {
        // Its message names a DockerOptions field; the config key's message is the one below.
        if (error instanceof InvalidDockerOptionsError) return false;
        throw error;
      }
    }, expected('bytes or a size such as "512m" or "4g"'))
    .optional(),
});

const GPUS_HINT = '"all", a number of GPUs, or a list of device ids such as ["0", "1"]';
const gpusError = expected(GPUS_HINT);
const gpusSchema = z.union(
  [
    z.literal('all', gpusError),
    z.number(gpusError).int(gpusError).positive(gpusError),
    z.array(z.string(gpusError).regex(NOT_BLANK, gpusError), gpusError).min(1, gpusError),
  ],
  gpusError,
);

/** A target's memoization default (src/memo/). */
const targetCacheSchema = z
  .boolean(expected('true or false'))
  .optional()
  .describe(
    'Serve a run from an earlier succeeded run with the same cache key (package content, parameters, upstream keys) on this target; --rerun runs anyway. Default: defaults.cache',
  );
const TIMEOUT_HINT = 'seconds, or a duration such as "90s", "10m" or "1h30m" (1 second to 30 days)';
const RETRIES_HINT = `a whole number of retries from 0 to ${MAX_RETRIES}`;

/** `timeout` and `retries`, which every kind of target takes (routines/attempts.ts). */
const policyShape = {
  timeout: z
    .union([z.number(), z.string()], expected(TIMEOUT_HINT))
    .refine((value) => {
      try {
        parseDuration(value, 'timeout');
        return true;
      } catch (error) {
        if (error instanceof InvalidRunPolicyError) return false;
        throw error;
      }
    }, expected(TIMEOUT_HINT))
    .optional()
    .describe(
      'Each attempt of a run is stopped after this long and recorded timed-out: seconds, or "90s", "10m", "1h30m". Default: no limit',
    ),
  retries: z
    .number(expected(RETRIES_HINT))
    .int(expected(RETRIES_HINT))
    .min(0, expected(RETRIES_HINT))
    .max(MAX_RETRIES, expected(RETRIES_HINT))
    .optional()
    .describe(
      'How many times a failed or timed-out run is tried again (each attempt is recorded). Default: 0',
    ),
};

/** The keys local and remote Docker targets share: how the container runs. */
function dockerShape(side: Side) {
  return {
    cache: targetCacheSchema,
    ...policyShape,
    environment: textList('environment variable names', ENV_NAME)
      .default([])
      .describe(
        'Names of environment variables read when a run starts and passed to its container (never written into the image)',
      ),
    mounts: z
      .array(
        mountSchema(side),
        expected(`a list of mounts (${MOUNT_FORM} or { host, container, readOnly })`),
      )
      .default([])
      .describe(
        side.kind === 'local'
          ? 'Folders of this machine seen in the container: "host:/container[:ro]" or { host, container, readOnly }; a relative host path is resolved from the config\'s folder and must exist'
          : 'Folders of the remote host seen in the container: "/host:/container[:ro]" or { host, container, readOnly }; host paths are absolute paths on the remote host',
      ),
    limits: limitsSchema.default({}).describe('CPU and memory limits of the container'),
    gpus: gpusSchema.optional().describe(`GPUs given to the container: ${GPUS_HINT}`),
    baseImage: text('an image reference such as "node:20-bookworm-slim"', {
      pattern: /^\S+$/,
    })
      .optional()
      .describe('Image to build on. Default: node:20-bookworm-slim'),
    platform: z
      .enum(IMAGE_PLATFORMS, expected(IMAGE_PLATFORMS.map((p) => `"${p}"`).join(' or ')))
      .optional()
      .describe(
        side.kind === 'local'
          ? "The image's platform, whose npm packages it gets: linux/amd64 or linux/arm64. Default: the local engine's"
          : "The image's platform, whose npm packages it gets: linux/amd64 or linux/arm64; checked against the remote engine's. Default: the remote engine's",
      ),
    dependencies: z
      .enum(DEPENDENCY_MODES, expected('"auto", "host" or "image"'))
      .optional()
      .describe(
        'How the npm packages the bundle imports get into the image: "host" (npm here, for the image\'s platform), "image" (npm ci in the image build: needs npm in the base image and a reachable registry), "auto" (host, unless a package has install scripts). Default: auto',
      ),
    imageName: text('an image repository name such as "ferry/titanic"', {
      pattern: IMAGE_NAME,
    })
      .optional()
      .describe('Image repository name. Default: ferry/<project>'),
    removeContainer: z
      .boolean(expected('true or false'))
      .default(false)
      .describe("Remove a run's container once it ended and its logs were read"),
    maxParallel: z
      .number(expected('how many sweep runs may run at once (a whole number above 0)'))
      .int(expected('how many sweep runs may run at once (a whole number above 0)'))
      .positive(expected('how many sweep runs may run at once (a whole number above 0)'))
      .optional()
      .describe(
        'How many runs of a sweep may run at once. Default: one per GPU when gpus is a count or list, else 1',
      ),
  };
}

export const attachedTargetSchema = strictObject({
  type: z.literal('attached'),
  cache: targetCacheSchema,
  ...policyShape,
  viaPackage: z
    .boolean(expected('true or false'))
    .default(false)
    .describe('Run a copy loaded back from the package instead of the object itself'),
});

export function localTargetSchema(root: string) {
  const side: Side = { kind: 'local', root };
  return strictObject({
    type: z.literal('local'),
    ...dockerShape(side),
    dockerSocket: localPath(root, 'the path of the Docker socket')
      .optional()
      .describe("The Docker socket here. Default: DOCKER_HOST's socket, else /var/run/docker.sock"),
  });
}

const fingerprintError = expected('SHA256:… fingerprints as ssh-keygen -lf prints them');
const fingerprint = z.string(fingerprintError).regex(FINGERPRINT, fingerprintError);

/** The keys only a remote target has: how it is reached, and how images get there. */
function remoteOnlyShape(root: string) {
  return {
    host: text('a host name or address', {
      pattern: /^[^\s@]+$/,
      required: 'is required for a remote target: the host name or address to reach over SSH',
    }).describe('The host to reach over SSH; a target with a host is remote'),
    port: z
      .number(expected('a port number 1-65535'))
      .int(expected('a port number 1-65535'))
      .min(1, expected('a port number 1-65535'))
      .max(65535, expected('a port number 1-65535'))
      .optional()
      .describe("SSH port. Default: the host's Port in ~/.ssh/config, else 22"),
    sshConfig: z
      .union([localPath(root, 'the path of an ssh_config file'), z.literal(false)])
      .optional()
      .describe(
        'ssh_config file whose Host entries apply (HostName, User, Port, IdentityFile, ProxyJump, Include). Default: ~/.ssh/config; false: none',
      ),
    proxyJump: text('jump hosts, as ssh -J takes them (user@host:port,...), or none')
      .optional()
      .describe(
        "Jump hosts to reach the host through (each host key is checked); overrides ssh_config's ProxyJump",
      ),
    user: text('a user name', { pattern: /^[^\s@:]+$/ })
      .optional()
      .describe("SSH user. Default: this machine's user name"),
    key: localPath(root, 'the path of a private key file')
      .optional()
      .describe(
        'Private key file (relative to the config, or ~/). Default: ssh-agent, then ~/.ssh/id_*',
      ),
    knownHosts: localPath(root, 'the path of a known_hosts file')
      .optional()
      .describe('known_hosts file (relative to the config, or ~/). Default: ~/.ssh/known_hosts'),
    hostKeyFingerprint: z
      .union([fingerprint, z.array(fingerprint, fingerprintError)], fingerprintError)
      .optional()
      .describe('Pinned host key fingerprint(s), SHA256:…; when given, known_hosts is not read'),
    hostKeyCheck: z
      .enum(['strict', 'skip'], expected('"strict" or "skip"'))
      .default('strict')
      .describe('"strict" checks the host key; "skip" accepts any host key, loudly'),
    repository: text('a registry repository such as "registry.example.com:5000/team"', {
      pattern: IMAGE_NAME,
    })
      .optional()
      .describe('Registry repository to ship images through (push here, pull there)'),
    registryAuth: strictObject({
      username: text('the registry user name', { required: 'is required: the registry user name' }),
      passwordEnv: text(
        'the name of an environment variable holding the password (never the password itself)',
        {
          pattern: ENV_NAME,
          required:
            'is required: the name of an environment variable holding the password (never the password itself)',
        },
      ).describe('Name of the environment variable holding the password or token'),
    })
      .optional()
      .describe(
        'Registry credentials: a user name and the environment variable holding the password',
      ),
  };
}

/** Keys that make a target without `type` or `host` remote (someone meant a remote target). */
export const REMOTE_ONLY_KEYS: readonly string[] = Object.keys(remoteOnlyShape('/'));

export function remoteTargetSchema(root: string) {
  return strictObject({
    type: z.literal('remote'),
    ...dockerShape({ kind: 'remote' }),
    dockerSocket: text('an absolute path to the Docker socket on that host', {
      pattern: /^\//,
    })
      .default(DEFAULT_REMOTE_DOCKER_SOCKET)
      .describe("The Docker socket on the remote host (a sweep's queue runner mounts it)"),
    ...remoteOnlyShape(root),
  })
    .superRefine((target, context) => {
      if (target.registryAuth !== undefined && target.repository === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['registryAuth'],
          message: 'is only used with a repository; add "repository" or remove it',
        });
      }
    })
    .transform(({ hostKeyFingerprint, ...target }) => {
      // The file may pin one fingerprint or several; the config always holds a list.
      const pinned: { hostKeyFingerprints?: string[] } =
        hostKeyFingerprint === undefined
          ? {}
          : {
              hostKeyFingerprints:
                typeof hostKeyFingerprint === 'string' ? [hostKeyFingerprint] : hostKeyFingerprint,
            };
      return { ...target, ...pinned };
    });
}

/** Every key of a remote target (what a misspelled key of a target is compared with). */
export const REMOTE_KEYS: readonly string[] = Object.keys(remoteTargetSchema('/').in.shape);

const swarmResourcesSchema = strictObject({
  reservations: limitsSchema
    .default({})
    .describe('CPUs and memory a node must have free for the run to be placed there'),
  limits: limitsSchema.default({}).describe("CPUs and memory the run's container may use"),
});

/** Placement constraints as Swarm takes them: `node.role==worker`, `node.labels.gpu!=none`. */
const CONSTRAINT = /^[A-Za-z0-9_.-]+\s*(==|!=)\s*\S+$/;

/**
 * A swarm target: runs are Swarm services (replicated jobs) placed by the swarm, reached through a
 * manager's engine, here (`dockerSocket`) or over SSH (`host` and the remote target's SSH keys).
 */
export function swarmTargetSchema(root: string) {
  const { host: _host, repository: _repository, ...ssh } = remoteOnlyShape(root);
  return strictObject({
    type: z.literal('swarm'),
    ...policyShape,
    environment: dockerShape({ kind: 'remote' }).environment.describe(
      "Names of environment variables read when a run starts and given to it as a Swarm secret (never in the service's spec or the image)",
    ),
    baseImage: dockerShape({ kind: 'remote' }).baseImage,
    imageName: dockerShape({ kind: 'remote' }).imageName,
    host: text('a host name or address', { pattern: /^[^\s@]+$/ })
      .optional()
      .describe("A swarm manager to reach over SSH. Default: this machine's engine (dockerSocket)"),
    ...ssh,
    dockerSocket: text('an absolute path to the Docker socket of a swarm manager', {
      pattern: /^\//,
    })
      .optional()
      .describe(
        "The manager's Docker socket (on its host when reached over SSH). Default: DOCKER_HOST's socket, else /var/run/docker.sock",
      ),
    registry: text('a registry repository every node can pull from, such as "registry:5000/team"', {
      pattern: IMAGE_NAME,
      required:
        'is required for a swarm target: a registry repository every node can pull from, such as "registry.example.com:5000/team"',
    }).describe('Registry repository images are pushed to and every node pulls from (by digest)'),
    resources: swarmResourcesSchema
      .default({ reservations: {}, limits: {} })
      .describe("Each run's CPU and memory reservations and limits"),
    gpus: z
      .number(expected('a number of GPUs (a whole number above 0)'))
      .int(expected('a number of GPUs (a whole number above 0)'))
      .positive(expected('a number of GPUs (a whole number above 0)'))
      .optional()
      .describe(
        'GPUs each run reserves, as generic resources the nodes advertise (dockerd --node-generic-resource); the swarm places runs on nodes that have them free',
      ),
    gpuResource: text('the generic resource kind GPUs are advertised as, such as "NVIDIA-GPU"', {
      pattern: /^[A-Za-z0-9_.-]+$/,
    })
      .default('NVIDIA-GPU')
      .describe('The generic resource kind of GPUs on the nodes. Default: NVIDIA-GPU'),
    constraints: textList('placement constraints such as "node.role==worker"', CONSTRAINT)
      .default([])
      .describe('Placement constraints, as docker service create --constraint takes them'),
    startTimeout: z
      .number(expected('seconds (a number above 0)'))
      .positive(expected('seconds (a number above 0)'))
      .default(120)
      .describe(
        "Seconds a run's task may take to start (placed, image pulled) before the run fails, naming the node",
      ),
  }).transform(({ hostKeyFingerprint, ...target }) => ({
    ...target,
    ...(hostKeyFingerprint === undefined
      ? {}
      : {
          hostKeyFingerprints:
            typeof hostKeyFingerprint === 'string' ? [hostKeyFingerprint] : hostKeyFingerprint,
        }),
  }));
}

/**
 * A target: `type` says its kind. Where the file leaves `type` out, `inferTargetTypes` (in
 * `validate.ts`) fills it in before parsing: a `host` makes a target remote.
 */
export function targetSchema(root: string) {
  return z.discriminatedUnion(
    'type',
    [
      attachedTargetSchema,
      localTargetSchema(root),
      remoteTargetSchema(root),
      swarmTargetSchema(root),
    ],
    {
      error: (issue) => {
        const type = (issue.input as { type?: unknown } | undefined)?.type;
        return typeof issue.input === 'object' && issue.input !== null
          ? `expected "attached", "local", "remote" or "swarm", got ${show(type)}`
          : `expected an object, got ${show(issue.input)}`;
      },
    },
  );
}

const targetNameSchema = z.string().regex(TARGET_NAME, {
  error: () => "a target name is letters, digits, '.', '-' and '_' (up to 63)",
});

/** The targets every config has unless it defines them. */
const BUILT_IN_TARGETS = {
  attached: { type: 'attached' },
  local: { type: 'local' },
} as const;

/** The schema of a config file in folder `root` (whose relative paths resolve from there). */
export function configSchema(root: string) {
  const target = targetSchema(root);
  return strictObject({
    /** The JSON Schema an editor checks the file against; Ferry ignores it. */
    $schema: z
      .string(expected('the path or URL of a JSON Schema'))
      .optional()
      .describe('The JSON Schema editors check this file against; Ferry ignores it'),
    project: text(
      "1-100 lower-case letters, digits, '.', '-' or '_' (e.g. \"titanic-featurization\")",
      {
        pattern: PROJECT_NAME,
        required: 'is required: the job package and image name, e.g. "titanic-featurization"',
      },
    ).describe('Package and image name'),
    version: z
      .string(
        expected(
          'a semver version such as "1.0.0"',
          'is required: a semver version such as "1.0.0"',
        ),
      )
      .refine(
        (value) => validVersion(value) === value,
        expected('a semver version such as "1.0.0"'),
      )
      .describe('Semver version of the job'),
    job: jobSchema(root).describe(
      'The job: "module#export" or { module, export }; the export is a job object or a function returning one',
    ),
    sourceRoot: localPath(
      root,
      'a path',
      'is required: the folder the job\'s classes are exported from, e.g. "src"',
    ).describe('The folder whose modules are bundled into the package'),
    projectRoot: localPath(root)
      .optional()
      .describe(
        "Folder with the project's package.json and lockfile. Default: nearest above the source root",
      ),
    exclude: textList('globs relative to the source root', /./)
      .optional()
      .describe('Globs under the source root left out of the package'),
    assets: z
      .array(
        z
          .string(expected('a glob relative to the project root such as "data/**/*.csv"'))
          .superRefine((glob, context) => {
            const problem = assetGlobProblem(glob);
            if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
          }),
        expected('a list of globs relative to the project root, e.g. ["data/**/*.csv"]'),
      )
      .optional()
      .describe(
        'Globs (relative to the project root) of data files packaged with the job, in their own image layer; a run finds them with context.asset("data/train.csv"). Each must match a file. Large data stays a mount',
      ),
    workDir: localPath(root)
      .prefault('.ferry')
      .describe('Where packages, builds and run records go'),
    defaults: strictObject({
      target: text('a target name')
        .default('local')
        .describe('The target run and sweep use without --target'),
      parameters: z
        ._default(jobParametersSchema, {})
        .describe('Parameters every run gets, under the ones given on the command line'),
      cache: z
        .boolean(expected('true or false'))
        .optional()
        .describe(
          'ferry run and ferry sweep serve runs from cache (as --cache) on targets that do not say otherwise. Default: false',
        ),
    }).prefault({}),
    targets: z
      .record(targetNameSchema, target, expected('an object of targets by name'))
      .prefault({})
      .describe('Targets by name; "attached" and "local" exist unless redefined')
      .transform((defined) => {
        // Null prototype: a target named `toString` or `constructor` is looked up as itself,
        // never found on Object.prototype.
        const targets: Record<string, z.output<typeof target> & { readonly name: string }> =
          Object.create(null) as Record<string, never>;
        for (const [name, spec] of Object.entries(BUILT_IN_TARGETS)) {
          targets[name] = { name, ...target.parse(spec) };
        }
        for (const [name, spec] of Object.entries(defined)) targets[name] = { name, ...spec };
        return targets;
      }),
  })
    .superRefine(
      (config, context) => {
        if (!Object.hasOwn(config.targets, config.defaults.target)) {
          context.addIssue({
            code: 'custom',
            path: ['defaults', 'target'],
            message: `no target named ${JSON.stringify(config.defaults.target)}; targets: ${Object.keys(config.targets).join(', ')}`,
          });
        }
      },
      // Only once the targets are known: with other mistakes they may not be.
      { when: (payload) => payload.issues.length === 0 },
    )
    .transform(({ $schema: _editorSchema, ...config }) => config);
}

type ParsedConfig = z.output<ReturnType<typeof configSchema>>;
type ParsedTarget = ParsedConfig['targets'][string];

export type TargetType = ParsedTarget['type'];
/** Where the CLI finds the job object: a module (absolute) and one of its exports (default `default`). */
export type JobReference = DeepReadonly<ParsedConfig['job']>;
export type LimitsConfig = DeepReadonly<z.output<typeof limitsSchema>>;
export type AttachedTargetConfig = DeepReadonly<Extract<ParsedTarget, { type: 'attached' }>>;
export type LocalTargetConfig = DeepReadonly<Extract<ParsedTarget, { type: 'local' }>>;
export type RemoteTargetConfig = DeepReadonly<Extract<ParsedTarget, { type: 'remote' }>>;
export type SwarmTargetConfig = DeepReadonly<Extract<ParsedTarget, { type: 'swarm' }>>;
export type RegistryAuthConfig = NonNullable<RemoteTargetConfig['registryAuth']>;
/** What local and remote Docker targets share: how the container runs. */
export type DockerTargetSettings = Omit<LocalTargetConfig, 'type'>;
export type DockerTargetConfig = LocalTargetConfig | RemoteTargetConfig;
export type TargetConfig = AttachedTargetConfig | DockerTargetConfig | SwarmTargetConfig;
export type DefaultsConfig = DeepReadonly<ParsedConfig['defaults']>;

/** A validated config: paths absolute, defaults filled, `attached` and `local` always defined. */
export type FerryConfig = DeepReadonly<Omit<ParsedConfig, 'targets'>> & {
  /** The config file (absolute). */
  readonly file: string;
  /** Its folder: relative paths in the file are resolved from here. */
  readonly root: string;
  /** By name; always holds `attached` and `local` (built in unless the file defines them). */
  readonly targets: Readonly<Record<string, TargetConfig>>;
};
