import path from 'node:path';
import type Dockerode from 'dockerode';
import type { ContaineringProgress, ContaineringTaskFields } from '../containering/index.js';
import { PackagingTask } from '../packaging/index.js';
import { snapshotJob } from '../packaging/snapshot.js';
import { AttachedExecutor } from './attachedExecutor.js';
import { DockerOptions } from './dockerOptions.js';
import { LocalDockerExecutor } from './localDockerExecutor.js';
import {
  RemoteDockerExecutor,
  type RemoteDockerExecutorFields,
  type RemoteProgress,
} from './remoteDockerExecutor.js';
import { RemoteNotConfiguredError } from './errors.js';
import { assertJob, type Job } from './job.js';

export interface JobRoutineFields {
  /** The configured job object: an instance of a class with a `run()` method. */
  readonly job: Job;
  /** Package and image name, e.g. `titanic-featurization`. */
  readonly name: string;
  /** Semver version of the job, e.g. `1.0.0`. */
  readonly version: string;
  /** The folder the job's classes are exported from. */
  readonly sourceRoot: string;
  /** Globs of modules under the source root to leave out (default: tests and declarations). */
  readonly exclude?: readonly string[];
  /** Folder holding the project's package.json and lockfile (default: nearest above the source root). */
  readonly projectRoot?: string;
  /** Globs (relative to the project root) of data files that travel with the job (`context.asset()`). */
  readonly assets?: readonly string[];
  /** Where packages, installs and build state go (default: `.ferry` in the working directory). */
  readonly workDir?: string;
  /** How the job's container runs, locally and remotely: environment, mounts, limits, GPUs. */
  readonly options?: DockerOptions;
  /** Image settings besides the packaging task: image name, base image, templates, labels. */
  readonly containering?: Partial<Omit<ContaineringTaskFields, 'packagingTask'>>;
  /** The local Docker engine (default: `DOCKER_HOST`, else the local socket). */
  readonly docker?: Dockerode;
  /** Told how packaging, image builds and shipping go. */
  readonly onProgress?: (progress: ContaineringProgress | RemoteProgress) => void;
  /**
   * The remote host for `routine.remote`: SSH connection (host, port, username, key, known hosts or
   * pinned fingerprint), the remote Docker socket, and an optional registry to ship through.
   */
  readonly remote?: RemoteHostFields;
}

/** Where `routine.remote` runs: the RemoteDockerExecutor fields that name the host. */
export type RemoteHostFields = Pick<
  RemoteDockerExecutorFields,
  'ssh' | 'dockerSocketPath' | 'repository' | 'registryAuth' | 'wait' | 'connection'
>;

/**
 * Delivers one job to where it must run (Training Grounds' SSHDockerJobRoutine): `attached` in this
 * process, `local` in a container on the local Docker engine, `remote` in a container on a host
 * reached over SSH. Each place is an executor with the same interface.
 *
 * Every `execute()` starts from the job as configured: the routine takes a snapshot of the job with
 * the package serializer when it is made, every attached run runs on a fresh copy of it, and local
 * and remote runs package it, so what one run does to its job is never seen by the next. Changes
 * made to the object after the routine was made are not delivered either: make a new routine.
 */
export class SSHDockerJobRoutine {
  /** The job object as given (Ferry never runs or changes it). */
  readonly job: Job;
  readonly name: string;
  readonly version: string;
  readonly workDir: string;
  readonly options: DockerOptions;
  readonly attached: AttachedExecutor;
  readonly local: LocalDockerExecutor;
  private readonly fields: JobRoutineFields;
  /** The job as configured: a copy rebuilt from the snapshot, never run (runs get copies of it). */
  private readonly configured: Job;
  private remoteExecutor: RemoteDockerExecutor | undefined;

  constructor(fields: JobRoutineFields) {
    assertJob(fields.job);
    this.fields = fields;
    this.job = fields.job;
    this.configured = snapshotJob(fields.job).copy();
    this.name = fields.name;
    this.version = fields.version;
    this.workDir = path.resolve(fields.workDir ?? '.ferry');
    // Validate name, version and source root now, so a mistake surfaces before any executor runs.
    this.packagingTask();
    this.attached = new AttachedExecutor({
      job: this.configured,
      packagingTask: () => this.packagingTask(),
      workDir: this.workDir,
    });
    this.options = fields.options ?? new DockerOptions();
    this.local = new LocalDockerExecutor({
      packagingTask: () => this.packagingTask(),
      options: this.options,
      workDir: this.workDir,
      ...(fields.containering === undefined ? {} : { containering: fields.containering }),
      ...(fields.docker === undefined ? {} : { docker: fields.docker }),
      ...(fields.onProgress === undefined ? {} : { onProgress: fields.onProgress }),
    });
  }

  /** The job on the remote host; needs `remote` in the routine's fields. */
  get remote(): RemoteDockerExecutor {
    const remote = this.fields.remote;
    if (remote === undefined) {
      throw new RemoteNotConfiguredError(
        `routine ${this.name} has no remote host; give SSHDockerJobRoutine a remote: { ssh: { host, username, privateKeyPath, knownHostsPath } }`,
      );
    }
    this.remoteExecutor ??= new RemoteDockerExecutor({
      ...remote,
      packagingTask: () => this.packagingTask(),
      options: this.options,
      workDir: this.workDir,
      ...(this.fields.containering === undefined ? {} : { containering: this.fields.containering }),
      ...(this.fields.docker === undefined ? {} : { localDocker: this.fields.docker }),
      ...(this.fields.onProgress === undefined ? {} : { onProgress: this.fields.onProgress }),
    });
    return this.remoteExecutor;
  }

  /** The packaging task for the job as configured (its snapshot, taken when the routine was made). */
  packagingTask(): PackagingTask {
    return new PackagingTask({
      name: this.fields.name,
      version: this.fields.version,
      payload: { job: this.configured },
      sourceRoot: this.fields.sourceRoot,
      ...(this.fields.exclude === undefined ? {} : { exclude: this.fields.exclude }),
      ...(this.fields.projectRoot === undefined ? {} : { projectRoot: this.fields.projectRoot }),
      ...(this.fields.assets === undefined ? {} : { assets: this.fields.assets }),
    });
  }
}
