import type Dockerode from 'dockerode';
import type { ImageInfo } from '../containering/makeContainer.js';
import { toDockerUnavailable } from '../engines/dockerApi.js';
import { localEngine, type DockerEngine, type LocalEngineOptions } from '../engines/engine.js';
import {
  DockerExecutor,
  type DockerExecutorFields,
  type PreparedImage,
} from './docker/dockerExecutor.js';

export interface LocalDockerExecutorFields extends DockerExecutorFields {
  /** The engine. Default: `DOCKER_HOST`, else the local socket. */
  readonly docker?: Dockerode;
  /** Where the engine is when no client is given: its socket, and where `DOCKER_HOST` is read. */
  readonly engine?: LocalEngineOptions;
}

/**
 * Runs a job in a container on the local Docker engine (`routine.local`): the image is built and
 * run on the same engine, so delivering it is naming it.
 */
export class LocalDockerExecutor extends DockerExecutor {
  readonly kind = 'local' as const;
  readonly docker: Dockerode;
  private readonly local: DockerEngine;

  constructor(fields: LocalDockerExecutorFields = {}) {
    super(fields);
    this.local = localEngine(
      { ...fields.engine, ...(fields.env === undefined ? {} : { env: fields.env }) },
      fields.docker,
    );
    this.docker = this.local.docker;
  }

  get location(): string {
    return this.local.location;
  }

  async engine(): Promise<DockerEngine> {
    return this.local;
  }

  async close(): Promise<void> {
    await this.local.close();
  }

  override async translate(error: unknown): Promise<unknown> {
    return toDockerUnavailable(this.docker, error);
  }

  protected builder(): Dockerode {
    return this.docker;
  }

  protected async deliver(image: ImageInfo): Promise<PreparedImage> {
    // By id: a tag another build moves meanwhile cannot change what this run starts from.
    return { image, reference: image.imageId };
  }
}
