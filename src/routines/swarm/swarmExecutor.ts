/**
 * Runs a job on a Docker Swarm (issue 16): each run is a service in replicated-job mode (one task,
 * never restarted) placed by the swarm, reached through a manager's engine (the local socket, or
 * over SSH). Images are built here, pushed to a registry every node reaches and referenced by
 * digest; propagated variables travel in a Swarm secret, never in the service's spec; a run's
 * service carries its record in its labels, so any process that reaches the manager finds it.
 * Once a run has ended its logs and status are kept with its record and its service and secret
 * are removed.
 */
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { ImageInfo } from '../../containering/makeContainer.js';
import { engineMessage, engineStatus, toDockerUnavailable } from '../../engines/dockerApi.js';
import {
  localDockerClient,
  localEngine,
  openSshEngine,
  type DockerEngine,
} from '../../engines/engine.js';
import { sha256File, type PackagingTask } from '../../packaging/index.js';
import {
  InvalidParametersError,
  decodeParameters,
  parametersEnvironment,
  type JobParameters,
} from '../../parameters/index.js';
import { isFinal, statusOfState, type RunAttempt, type RunRecord } from '../../records/record.js';
import { attemptsOfTasks, mergePolicies, runPolicy, type RunPolicy } from '../attempts.js';
import { demuxLogs } from '../docker/logs.js';
import { RecordStore } from '../../records/store.js';
import type { RegistryAuth } from '../../shipping/index.js';
import type { SshConnectionOptions } from '../../ssh/index.js';
import { buildJobImage } from '../docker/buildJobImage.js';
import type {
  DockerExecutorFields,
  PreparedImage,
  PruneResult,
  QueuedSweep,
  SweepProgress,
} from '../docker/dockerExecutor.js';
import { RUN_LABELS, labelFilter, runContainerLabels } from '../docker/labels.js';
import {
  MissingEnvironmentVariableError,
  NoJobError,
  NotSupportedOnTargetError,
  RunNotFoundError,
} from '../errors.js';
import type {
  ExecuteOptions,
  JobRun,
  JobStatus,
  RemoveRunOptions,
  RemovedRun,
  RunInfo,
  TargetExecutor,
} from '../jobExecutor.js';
import { RecordedRun } from '../recordedRun.js';
import { newRunId } from '../runId.js';
import { RunLookupExecutor } from '../runLookupExecutor.js';
import {
  NotASwarmManagerError,
  SwarmGpuUnavailableError,
  SwarmImageUnavailableError,
  SwarmTaskError,
  SwarmTaskStartTimeoutError,
} from './errors.js';
import { pushByDigest } from './pushImage.js';
import {
  genericResourceProblem,
  policyOfLabels,
  secretData,
  type AdvertisedResources,
  secretName,
  serviceName,
  serviceSpec,
  type SwarmRunSettings,
} from './serviceSpec.js';
import { SwarmJobRun } from './swarmJobRun.js';
import {
  currentTask,
  describeNode,
  imageProblem,
  POLL_MS,
  statusOfRun,
  statusOfTask,
  withLostAttempt,
  taskEnded,
  taskWaiting,
  type NodeFacts,
  type TaskFacts,
} from './taskState.js';

/** The fields a swarm shares with the Docker executors, documented there. */
type SharedExecutorFields = Pick<
  DockerExecutorFields,
  | 'packagingTask'
  | 'wait'
  | 'containering'
  | 'workDir'
  | 'records'
  | 'targetName'
  | 'jobName'
  | 'cacheDir'
  | 'onProgress'
  | 'env'
  | 'policy'
>;

export interface SwarmExecutorFields extends SharedExecutorFields {
  /** The manager's engine: its socket here, or a host reached over SSH and the socket there. */
  readonly manager: { readonly socketPath?: string; readonly ssh?: SshConnectionOptions };
  /** Repository every node pulls from (`registry:5000/team`); images are pushed there from here. */
  readonly registry: string;
  readonly registryAuth?: RegistryAuth;
  /** Names of variables read at `execute()` and given to the run as a Swarm secret. */
  readonly environment?: readonly string[];
  /** Resources and placement of each run's task. */
  readonly settings?: SwarmRunSettings;
  /** How long a task may take to reach `running` (placed, image pulled). Default: 120 s. */
  readonly startTimeoutMs?: number;
  /** The engine images are built on. Default: `DOCKER_HOST`, else the local socket. */
  readonly localDocker?: Dockerode;
}

/** A run's service as `GET /services` lists it (the parts Ferry reads). */
export interface ServiceFacts {
  readonly ID: string;
  readonly CreatedAt?: string;
  readonly Spec: {
    readonly Name: string;
    readonly Labels?: Readonly<Record<string, string>>;
    readonly TaskTemplate?: {
      readonly ContainerSpec?: {
        readonly Image?: string;
        readonly Secrets?: readonly { readonly SecretID: string }[];
      };
    };
  };
}

export class SwarmExecutor extends RunLookupExecutor implements TargetExecutor {
  readonly kind = 'swarm' as const;
  readonly runsInProcess = false;
  readonly records: RecordStore | undefined;
  readonly localDocker: Dockerode;
  lastImage: ImageInfo | undefined;
  private readonly fields: SwarmExecutorFields;
  private readonly runs = new Map<string, SwarmJobRun>();
  private lastRunId: string | undefined;
  private opening: Promise<DockerEngine> | undefined;

  constructor(fields: SwarmExecutorFields) {
    super();
    this.fields = fields;
    this.localDocker =
      fields.localDocker ?? localDockerClient(fields.env === undefined ? {} : { env: fields.env });
    this.records =
      fields.records ??
      (fields.workDir === undefined
        ? undefined
        : new RecordStore(path.join(path.resolve(fields.workDir), 'runs')));
  }

  get targetName(): string {
    return this.fields.targetName ?? 'swarm';
  }

  get location(): string {
    const { ssh, socketPath } = this.fields.manager;
    const socket = socketPath ?? '/var/run/docker.sock';
    if (ssh === undefined) return `swarm manager unix://${socket}`;
    return `swarm manager ${ssh.username ?? process.env.USER ?? 'root'}@${ssh.host}:${ssh.port ?? 22}`;
  }

  /** The manager's engine, checked to be a swarm manager on first use. */
  async engine(): Promise<DockerEngine> {
    const existing =
      this.opening === undefined ? undefined : await this.opening.catch(() => undefined);
    if (existing !== undefined && existing.connection?.closed !== true) return existing;
    const opening = this.openManager();
    this.opening = opening;
    opening.catch(() => {
      if (this.opening === opening) this.opening = undefined;
    });
    return opening;
  }

  private async openManager(): Promise<DockerEngine> {
    const { ssh, socketPath } = this.fields.manager;
    const engine =
      ssh === undefined
        ? localEngine({
            ...(socketPath === undefined ? {} : { socketPath }),
            ...(this.fields.env === undefined ? {} : { env: this.fields.env }),
          })
        : await openSshEngine({
            ssh,
            ...(socketPath === undefined ? {} : { socketPath }),
            onConnecting: (target) =>
              this.fields.onProgress?.({ stage: 'connect', message: `Connecting to ${target}` }),
          });
    let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    try {
      info = (await engine.docker.info()) as typeof info;
    } catch (error) {
      await engine.close();
      throw toDockerUnavailable(engine.docker, error);
    }
    if (info.Swarm?.ControlAvailable !== true) {
      await engine.close();
      throw new NotASwarmManagerError(
        `target ${this.targetName}: the engine at ${engine.location} is not a swarm manager (swarm state: ${info.Swarm?.LocalNodeState ?? 'unknown'}); point dockerSocket (or host) at a manager node, or run docker swarm init there`,
      );
    }
    return engine;
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    const engine = opening === undefined ? undefined : await opening.catch(() => undefined);
    await engine?.close();
  }

  packagingTask(): PackagingTask {
    const task = this.fields.packagingTask;
    if (task === undefined) {
      throw new NoJobError(
        `target ${this.targetName}: this executor was made without a job, so it can find and manage runs but not start one`,
      );
    }
    return typeof task === 'function' ? task() : task;
  }

  /** Packages the job and builds its image here (reused when nothing changed). */
  async build(): Promise<ImageInfo> {
    const image = await buildJobImage(this.localDocker, this.packagingTask(), this.fields);
    this.lastImage = image;
    return image;
  }

  /** Builds the image and pushes it to the registry; what runs is the image by digest. */
  async prepare(): Promise<PreparedImage> {
    const image = await this.build();
    this.fields.onProgress?.({
      stage: 'ship',
      message: `Pushing ${image.reference} to ${this.fields.registry}`,
      shipping: { phase: 'push', message: `Pushing to ${this.fields.registry}` },
    });
    const reference = await pushByDigest(
      this.localDocker,
      image.reference,
      this.fields.registry,
      this.fields.registryAuth,
    );
    const prepared: PreparedImage = { image, reference };
    this.fields.onProgress?.({
      stage: 'delivered',
      message: `${reference} is in the registry`,
      prepared,
    });
    return prepared;
  }

  async execute(options: ExecuteOptions = {}): Promise<JobRun> {
    // Memoization and pipelines serve and read results, which do not come home from a swarm's
    // nodes yet: asking for them is refused rather than quietly running without.
    if (options.cache === true || Object.keys(options.inputs ?? {}).length > 0) {
      throw new NotSupportedOnTargetError(
        `target ${this.targetName}: ${options.cache === true ? 'cache' : 'inputs (results of other runs)'} is not built for swarm targets yet, as results do not come home from a swarm's nodes (issue 16); run without it, or on a local or remote target`,
      );
    }
    const runId = options.runId ?? newRunId();
    const policy = runPolicy(
      mergePolicies(this.fields.policy, {
        ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
      }),
    );
    const secretValues = this.secretEnvironment();
    const [prepared, engine] = await Promise.all([this.prepare(), this.engine()]);
    const { docker } = engine;
    const manifest = prepared.image.packageInfo.manifest;
    const parameters = options.parameters ?? {};
    const createdAt = new Date();
    const labels = runContainerLabels(
      { name: manifest.name, version: manifest.version, uid: manifest.uid, runId },
      { target: this.targetName, parameters, createdAt },
      options.labels,
    );
    const record: RunRecord = {
      id: runId,
      job: manifest.name,
      version: manifest.version,
      uid: manifest.uid,
      target: this.targetName,
      targetKind: this.kind,
      parameters,
      status: 'queued',
      createdAt: createdAt.toISOString(),
      image: prepared.reference,
      imageId: prepared.image.imageId,
      packageSha256: await sha256File(prepared.image.packageInfo.path),
      ...(policy.timeoutMs === undefined ? {} : { timeoutMs: policy.timeoutMs }),
      ...(policy.retries === 0 ? {} : { retries: policy.retries }),
    };
    await this.checkGenericResources(docker);
    await this.records?.put(record);
    const entrypoint = await this.entrypointOf(prepared.image.imageId);
    let secret: { id: string; name: string } | undefined;
    let serviceId: string;
    try {
      if (secretValues !== undefined) {
        const name = secretName(manifest.name, runId);
        const created = (await this.call('create the run secret on', () =>
          docker.createSecret({
            Name: name,
            Labels: {
              [RUN_LABELS.runId]: runId,
              [RUN_LABELS.job]: manifest.name,
              [RUN_LABELS.role]: 'env',
            },
            Data: secretData(secretValues),
          }),
        )) as { id?: string; ID?: string };
        secret = { id: created.id ?? created.ID ?? name, name };
      }
      const spec = serviceSpec({
        name: serviceName(manifest.name, runId),
        image: prepared.reference,
        entrypoint,
        labels,
        env: [parametersEnvironment(parameters)],
        ...(secret === undefined ? {} : { secret }),
        settings: this.fields.settings ?? {},
        policy,
      });
      this.fields.onProgress?.({
        stage: 'start',
        message: `Starting run ${runId} on ${this.location}`,
      });
      const service = (await this.call('create the run service on', () =>
        (
          docker.createService as (
            auth: object,
            spec: object,
          ) => Promise<{ id?: string; ID?: string }>
        )(this.pullAuth() ?? {}, spec),
      )) as { id?: string; ID?: string };
      serviceId = service.id ?? service.ID ?? '';
    } catch (error) {
      if (secret !== undefined) await this.removeSecret(docker, secret.id);
      await this.records?.update(runId, { status: 'failed', finishedAt: new Date().toISOString() });
      throw error;
    }
    const run = this.handle(runId, serviceId, policy);
    this.lastRunId = runId;
    await this.awaitStart(run);
    if (options.wait ?? this.fields.wait ?? false) await run.wait();
    return run;
  }

  async run(runId?: string): Promise<JobRun> {
    const id = runId ?? this.lastRunId;
    if (id !== undefined && this.runs.has(id)) return this.runs.get(id)!;
    const services = await this.listServices(
      id === undefined
        ? { [RUN_LABELS.job]: this.jobName(), [RUN_LABELS.role]: 'run' }
        : { [RUN_LABELS.runId]: id },
    );
    const newest = [...services].sort((a, b) =>
      (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''),
    )[0];
    if (newest === undefined) {
      const record = id === undefined ? undefined : await this.records?.get(id);
      if (record !== undefined && this.records !== undefined)
        return new RecordedRun(record, this.records);
      throw new RunNotFoundError(
        id === undefined
          ? `no run of job ${this.jobName()} on ${this.location}; call execute() first`
          : `no service with label ${RUN_LABELS.runId}=${id} on ${this.location} (ended and removed, or run elsewhere)`,
      );
    }
    return this.handle(
      newest.Spec.Labels?.[RUN_LABELS.runId] ?? id ?? newest.ID,
      newest.ID,
      policyOfLabels(newest.Spec.Labels),
    );
  }

  /** Stops a run: its logs so far and status `stopped` kept with its record, its service and secret removed. */
  override async stop(runId?: string): Promise<void> {
    await (await this.run(runId)).stop();
  }

  /** The runs on the swarm (services not yet removed), newest first. */
  async listRuns(options: { readonly allJobs?: boolean } = {}): Promise<RunInfo[]> {
    const services = await this.listServices({
      [RUN_LABELS.runId]: true,
      [RUN_LABELS.role]: 'run',
      ...(options.allJobs === true ? {} : { [RUN_LABELS.job]: this.jobName() }),
    });
    const tasks = await this.tasksByService();
    return services
      .map((service) =>
        runInfoOf(
          service,
          statusOfRun(
            runIdOf(service),
            tasks.get(service.ID) ?? [],
            policyOfLabels(service.Spec.Labels),
          ),
        ),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  async syncRecords(records: readonly RunRecord[]): Promise<RunRecord[]> {
    const store = this.records;
    const stale = records.filter((r) => !isFinal(r.status));
    if (store === undefined || stale.length === 0) return [...records];
    const services = new Map(
      (await this.listServices({ [RUN_LABELS.runId]: true })).map((s) => [runIdOf(s), s]),
    );
    const updated = new Map<string, RunRecord>();
    for (const record of stale) {
      const service = services.get(record.id);
      if (service === undefined) {
        if (record.status !== 'unknown')
          updated.set(record.id, await store.update(record.id, { status: 'unknown' }));
        continue;
      }
      const run = this.handle(record.id, service.ID, policyOfLabels(service.Spec.Labels));
      const status = await run.status();
      if (status.state !== 'created' && status.state !== 'running') await run.wait();
      else if (statusOfState(status.state) !== record.status)
        await this.recordProgress(record.id, status, run.node);
      const fresh = await store.get(record.id);
      if (fresh !== undefined) updated.set(record.id, fresh);
    }
    return records.map((r) => updated.get(r.id) ?? r);
  }

  async discoverRuns(known: ReadonlySet<string>): Promise<RunRecord[]> {
    const services = await this.listServices({
      [RUN_LABELS.job]: this.jobName(),
      [RUN_LABELS.role]: 'run',
    });
    const found: RunRecord[] = [];
    for (const service of services) {
      if (known.has(runIdOf(service))) continue;
      found.push(await this.recordOfService(service));
    }
    return found;
  }

  async discoverRun(id: string): Promise<RunRecord | undefined> {
    const [service] = await this.listServices({ [RUN_LABELS.runId]: id });
    return service === undefined ? undefined : this.recordOfService(service);
  }

  async removeRun(runId: string, options: RemoveRunOptions = {}): Promise<RemovedRun> {
    const { docker } = await this.engine();
    const removed: string[] = [];
    for (const service of await this.listServices({ [RUN_LABELS.runId]: runId })) {
      const tasks = (await this.tasksByService()).get(service.ID) ?? [];
      const task = currentTask(tasks);
      if (task !== undefined && !taskEnded(task) && options.force !== true) {
        throw new RunNotFoundError(
          `run ${runId} is still running on ${this.location}; stop it first or remove it with force`,
        );
      }
      await this.removeService(docker, service);
      removed.push(`service ${service.ID.slice(0, 12)} on ${this.location}`);
    }
    this.runs.delete(runId);
    if ((await this.records?.get(runId)) !== undefined) {
      await this.records!.remove(runId);
      removed.push('record and saved logs');
    }
    return { removed };
  }

  async prune(): Promise<PruneResult> {
    throw new NotSupportedOnTargetError(
      `target ${this.targetName}: pruning images on a swarm's nodes is not built yet (an ended run's service is removed once its logs are kept, so no containers pile up); remove this project's old images on a node with docker image rm (docker images --filter label=ferry.job=<project> lists them)`,
    );
  }

  async packageFiles(record: RunRecord): Promise<Map<string, Buffer>> {
    throw new NotSupportedOnTargetError(
      `run ${record.id}: reading a run's package back from a swarm target is not built yet (issue 16); get it from a local or remote target's run of the same version`,
    );
  }

  startSweep(): Promise<QueuedSweep> {
    return this.noSweeps();
  }

  sweepProgress(): Promise<SweepProgress> {
    return this.noSweeps();
  }

  sweepRunner(): Promise<JobRun> {
    return this.noSweeps();
  }

  sweepStartFailure(): Promise<string | undefined> {
    return this.noSweeps();
  }

  stopSweepRunner(): Promise<void> {
    return this.noSweeps();
  }

  removeSweepRunner(): Promise<void> {
    return this.noSweeps();
  }

  // ------------------------------------------------------------------------------------------
  // used by SwarmJobRun

  /** The tasks of a service (empty once it is gone). */
  async tasksOf(serviceId: string): Promise<TaskFacts[]> {
    const { docker } = await this.engine();
    const tasks = (await this.call('list the tasks of a run on', () =>
      docker.listTasks({ filters: JSON.stringify({ service: [serviceId] }) }),
    )) as TaskFacts[];
    if (tasks.length === 0) return tasks;
    const nodes = new Map(
      ((await this.call('list the nodes of', () => docker.listNodes())) as NodeFacts[]).map((n) => [
        n.ID,
        n,
      ]),
    );
    return tasks.map((task) =>
      withLostAttempt(task, task.NodeID === undefined ? undefined : nodes.get(task.NodeID)),
    );
  }

  /**
   * Starts another attempt of a run whose task was lost with its node (the swarm starts none by
   * itself then): a forced update runs the replicated job again, as a new task the swarm places
   * on a node that is up. Only when the newest task is the lost one, so two watchers rarely both
   * do it.
   */
  async retryLostAttempt(serviceId: string): Promise<void> {
    const { docker } = await this.engine();
    const service = docker.getService(serviceId);
    const info = (await this.call('inspect a run service on', () => service.inspect())) as {
      Version: { Index: number };
      Spec: { TaskTemplate?: { ForceUpdate?: number } } & Record<string, unknown>;
    };
    const spec = {
      ...info.Spec,
      TaskTemplate: {
        ...info.Spec.TaskTemplate,
        ForceUpdate: (info.Spec.TaskTemplate?.ForceUpdate ?? 0) + 1,
      },
    };
    await this.call('start another attempt of a run on', () =>
      (service.update as (auth: object, options: object) => Promise<unknown>)(
        this.pullAuth() ?? {},
        { version: info.Version.Index, ...spec },
      ),
    );
  }

  /** Refuses a run that asks for GPUs no node advertises (the swarm would leave it pending). */
  private async checkGenericResources(docker: Dockerode): Promise<void> {
    const requests = this.fields.settings?.genericResources ?? [];
    if (requests.length === 0) return;
    const nodes = (await this.call('list the nodes of', () =>
      docker.listNodes(),
    )) as AdvertisedResources[];
    const problem = genericResourceProblem(requests, nodes);
    if (problem !== undefined) {
      throw new SwarmGpuUnavailableError(`target ${this.targetName}: ${problem}`);
    }
  }

  /** Whether a run's service is still on the swarm. */
  async serviceExists(serviceId: string): Promise<boolean> {
    const { docker } = await this.engine();
    try {
      await docker.getService(serviceId).inspect();
      return true;
    } catch (error) {
      if (engineStatus(error) === 404) return false;
      throw await this.translate(error);
    }
  }

  /** A service's logs as a multiplexed buffer, or a following stream. */
  async serviceLogs(serviceId: string, follow: boolean): Promise<NodeJS.ReadableStream | Buffer> {
    const { docker } = await this.engine();
    return this.call(
      'read the logs of a run on',
      () =>
        docker.getService(serviceId).logs({ stdout: true, stderr: true, follow }) as Promise<
          NodeJS.ReadableStream | Buffer
        >,
    );
  }

  /** How a message names the node a task is on. */
  async nodeOf(task: TaskFacts | undefined): Promise<string | undefined> {
    if (task?.NodeID === undefined || task.NodeID === '') return undefined;
    const { docker } = await this.engine();
    try {
      return describeNode((await docker.getNode(task.NodeID).inspect()) as NodeFacts, task.NodeID);
    } catch (error) {
      // A node removed from the swarm meanwhile is still named by its id.
      if (engineStatus(error) === 404) return describeNode(undefined, task.NodeID);
      throw await this.translate(error);
    }
  }

  /** Keeps a run's end with its record, then removes its service and secret. */
  async settle(
    runId: string,
    serviceId: string,
    status: JobStatus,
    logs: { stdout: string; stderr: string },
    node: string | undefined,
  ): Promise<void> {
    const store = this.records;
    if (store !== undefined && (await store.get(runId)) !== undefined) {
      await store.saveLogs(runId, logs);
      const attempts = await this.attemptsOf(serviceId, status.state === 'stopped');
      if (attempts.length > 1) {
        for (const attempt of attempts) {
          if (attempt.taskId === undefined) continue;
          await store.saveAttemptLogs(runId, attempt.attempt, await this.taskLogs(attempt.taskId));
        }
      }
      await store.update(runId, {
        ...(attempts.length === 0 ? {} : { attempts }),
        status: statusOfState(status.state, status.exitCode),
        ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
        ...(status.finishedAt === undefined
          ? { finishedAt: new Date().toISOString() }
          : { finishedAt: status.finishedAt.toISOString() }),
        ...(node === undefined ? {} : { node }),
      });
    }
    const { docker } = await this.engine();
    const [service] = await this.listServices({ [RUN_LABELS.runId]: runId });
    if (service !== undefined && service.ID === serviceId)
      await this.removeService(docker, service);
  }

  /** A run's attempts: one per task of its service, each with the node it ran on. */
  async attemptsOf(serviceId: string, stopped: boolean): Promise<RunAttempt[]> {
    const tasks = await this.tasksOf(serviceId);
    const nodes = new Map<string, string | undefined>();
    for (const task of tasks) nodes.set(task.ID, await this.nodeOf(task));
    return attemptsOfTasks(tasks, (task) => nodes.get(task.ID), stopped);
  }

  /** One task's logs (an attempt's), read through the manager. */
  async taskLogs(taskId: string): Promise<{ stdout: string; stderr: string }> {
    const { docker } = await this.engine();
    const raw = await this.call('read the logs of an attempt on', () =>
      (
        docker.getTask(taskId) as unknown as {
          logs(options: object): Promise<NodeJS.ReadableStream | Buffer>;
        }
      ).logs({ stdout: true, stderr: true, follow: false }),
    );
    if (Buffer.isBuffer(raw)) return demuxLogs(raw);
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    return demuxLogs(Buffer.concat(chunks));
  }

  async recordProgress(runId: string, status: JobStatus, node: string | undefined): Promise<void> {
    const store = this.records;
    if (store === undefined || (await store.get(runId)) === undefined) return;
    await store.update(runId, {
      status: statusOfState(status.state),
      ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt.toISOString() }),
      ...(node === undefined ? {} : { node }),
    });
  }

  async call<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw await this.translate(error, what);
    }
  }

  async translate(error: unknown, what?: string): Promise<unknown> {
    const engine =
      this.opening === undefined ? undefined : await this.opening.catch(() => undefined);
    if (engine === undefined) return error;
    const unavailable = toDockerUnavailable(engine.docker, error);
    if (unavailable !== error || what === undefined || engineStatus(error) === undefined)
      return unavailable;
    return new SwarmTaskError(`could not ${what} ${engine.location}: ${engineMessage(error)}`, {
      cause: error,
    });
  }

  // ------------------------------------------------------------------------------------------

  /**
   * Waits until the run's task runs (or has already ended); a task refused for its image, or not
   * running within the start timeout, ends the run with an error naming its node.
   */
  private async awaitStart(run: SwarmJobRun): Promise<void> {
    const deadline = Date.now() + (this.fields.startTimeoutMs ?? 120_000);
    for (;;) {
      const task = currentTask(await this.tasksOf(run.serviceId));
      if (task !== undefined && !taskWaiting(task)) {
        if (taskEnded(task) && task.Status.State !== 'complete' && imageProblem(task)) {
          const node = await this.nodeOf(task);
          await run.fail(node);
          throw new SwarmImageUnavailableError(
            `run ${run.id}: ${node ?? 'its node'} could not get the image ${await this.imageOf(run)}: ${task.Status.Err ?? task.Status.Message ?? task.Status.State}. Every node must be able to pull from the target's registry (${this.fields.registry}); check that node's access to it (its address, TLS trust or --insecure-registry, credentials)`,
          );
        }
        run.node = await this.nodeOf(task);
        // Ended already (a short job): seen to its end now, so its service and secret go.
        if (taskEnded(task)) await run.wait();
        else await this.recordProgress(run.id, statusOfTask(run.id, task), run.node);
        return;
      }
      if (Date.now() >= deadline) {
        const node = await this.nodeOf(task);
        await run.fail(node);
        const where = node === undefined ? 'no node took it' : `on ${node}`;
        throw new SwarmTaskStartTimeoutError(
          `run ${run.id}: its task did not start within ${Math.round((this.fields.startTimeoutMs ?? 120_000) / 1000)} s (${where}; task state ${task?.Status.State ?? 'none'}${task?.Status.Err ? `: ${task.Status.Err}` : ''}${task?.Status.Message ? `, ${task.Status.Message}` : ''}); the run was removed. Check the target's constraints and resources against the nodes, or raise startTimeout`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  private async imageOf(run: SwarmJobRun): Promise<string> {
    return (await this.records?.get(run.id))?.image ?? this.lastImage?.reference ?? '?';
  }

  private secretEnvironment(): Record<string, string> | undefined {
    const names = this.fields.environment ?? [];
    if (names.length === 0) return undefined;
    const env = this.fields.env ?? process.env;
    const values: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const name of names) {
      const value = env[name];
      if (value === undefined) throw new MissingEnvironmentVariableError(name);
      values[name] = value;
    }
    return values;
  }

  private pullAuth(): RegistryAuth | undefined {
    const auth = this.fields.registryAuth;
    if (auth === undefined) return undefined;
    return { ...auth, serveraddress: auth.serveraddress ?? this.fields.registry.split('/')[0] };
  }

  /** The image's ENTRYPOINT, which the secret's loader runs once the variables are set. */
  private async entrypointOf(imageId: string): Promise<string[]> {
    const info = await this.localDocker.getImage(imageId).inspect();
    const entrypoint = info.Config.Entrypoint;
    return Array.isArray(entrypoint) && entrypoint.length > 0 ? entrypoint : ['node'];
  }

  private handle(runId: string, serviceId: string, policy: RunPolicy): SwarmJobRun {
    const known = this.runs.get(runId);
    if (known !== undefined && known.serviceId === serviceId) return known;
    const run = new SwarmJobRun(this, runId, serviceId, policy);
    this.runs.set(runId, run);
    return run;
  }

  private jobName(): string {
    return this.fields.jobName ?? this.packagingTask().name;
  }

  private async listServices(
    labels: Readonly<Record<string, string | true>>,
  ): Promise<ServiceFacts[]> {
    const { docker } = await this.engine();
    return (await this.call('list the runs on', () =>
      docker.listServices({ filters: labelFilter(labels) } as Dockerode.ServiceListOptions),
    )) as unknown as ServiceFacts[];
  }

  private async tasksByService(): Promise<Map<string, TaskFacts[]>> {
    const { docker } = await this.engine();
    const tasks = (await this.call('list the tasks on', () => docker.listTasks())) as (TaskFacts & {
      ServiceID: string;
    })[];
    const byService = new Map<string, TaskFacts[]>();
    for (const task of tasks)
      byService.set(task.ServiceID, [...(byService.get(task.ServiceID) ?? []), task]);
    return byService;
  }

  private async recordOfService(service: ServiceFacts): Promise<RunRecord> {
    const tasks = (await this.tasksByService()).get(service.ID) ?? [];
    const task = currentTask(tasks);
    const status = statusOfRun(runIdOf(service), tasks, policyOfLabels(service.Spec.Labels));
    const labels = service.Spec.Labels ?? {};
    const node = await this.nodeOf(task);
    const record: RunRecord = {
      id: runIdOf(service),
      job: labels[RUN_LABELS.job] ?? '?',
      version: labels[RUN_LABELS.version] ?? '?',
      uid: labels[RUN_LABELS.uid] ?? '?',
      target: labels[RUN_LABELS.target] ?? this.targetName,
      targetKind: this.kind,
      parameters: labelParameters(labels[RUN_LABELS.parameters]),
      status: statusOfState(status.state, status.exitCode),
      ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
      createdAt: labels[RUN_LABELS.createdAt] ?? service.CreatedAt ?? new Date().toISOString(),
      ...(node === undefined ? {} : { node }),
      ...(service.Spec.TaskTemplate?.ContainerSpec?.Image === undefined
        ? {}
        : { image: service.Spec.TaskTemplate.ContainerSpec.Image }),
    };
    return this.records === undefined ? record : this.records.put(record);
  }

  private async removeService(docker: Dockerode, service: ServiceFacts): Promise<void> {
    try {
      await docker.getService(service.ID).remove();
    } catch (error) {
      // 404: removed meanwhile, which is what was asked.
      if (engineStatus(error) !== 404) throw await this.translate(error, 'remove a run service on');
    }
    for (const secret of service.Spec.TaskTemplate?.ContainerSpec?.Secrets ?? []) {
      await this.removeSecret(docker, secret.SecretID);
    }
  }

  /** Removes a run's secret; the swarm refuses while the service's task still holds it, so this retries briefly. */
  private async removeSecret(docker: Dockerode, secretId: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await docker.getSecret(secretId).remove();
        return;
      } catch (error) {
        const status = engineStatus(error);
        if (status === 404) return;
        if (status !== 400 || Date.now() >= deadline)
          throw await this.translate(error, `remove secret ${secretId} on`);
      }
      await sleep(POLL_MS);
    }
  }

  private async noSweeps(): Promise<never> {
    throw new NotSupportedOnTargetError(
      `target ${this.targetName} is a swarm target: sweeps on a swarm are not built yet (issue 16, point 3); run them on a local or remote target, or start single runs on the swarm`,
    );
  }
}

/** A run's parameters from its service's label (untrusted: a bad label lists the run without them). */
function labelParameters(encoded: string | undefined): JobParameters {
  try {
    return decodeParameters(encoded);
  } catch (error) {
    if (error instanceof InvalidParametersError) return {};
    throw error;
  }
}

function runIdOf(service: ServiceFacts): string {
  return service.Spec.Labels?.[RUN_LABELS.runId] ?? service.ID;
}

function runInfoOf(service: ServiceFacts, status: JobStatus): RunInfo {
  const labels = service.Spec.Labels ?? {};
  const sweepIndex = Number(labels[RUN_LABELS.sweepIndex]);
  return {
    runId: runIdOf(service),
    job: labels[RUN_LABELS.job] ?? '',
    version: labels[RUN_LABELS.version] ?? '',
    uid: labels[RUN_LABELS.uid] ?? '',
    containerId: service.ID,
    containerName: service.Spec.Name,
    image: service.Spec.TaskTemplate?.ContainerSpec?.Image ?? '',
    state: status.state,
    ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
    createdAt: new Date(labels[RUN_LABELS.createdAt] ?? service.CreatedAt ?? 0),
    ...(labels[RUN_LABELS.sweep] === undefined ? {} : { sweepId: labels[RUN_LABELS.sweep] }),
    ...(Number.isInteger(sweepIndex) ? { sweepIndex } : {}),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
