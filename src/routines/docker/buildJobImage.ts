import type Dockerode from 'dockerode';
import {
  ContaineringTask,
  makeContainer,
  type ContaineringProgress,
  type ContaineringTaskFields,
  type ImageInfo,
} from '../../containering/index.js';
import type { PackagingTask } from '../../packaging/index.js';

/** What a Docker executor knows about building its job's image. */
export interface JobImageSettings {
  readonly containering?: Partial<Omit<ContaineringTaskFields, 'packagingTask'>>;
  readonly workDir?: string;
  readonly cacheDir?: string;
  readonly onProgress?: (progress: ContaineringProgress) => void;
}

/** Packages the job and builds (or finds) its image on `docker`: the first half of every Docker run. */
export function buildJobImage(
  docker: Dockerode,
  packagingTask: PackagingTask,
  settings: JobImageSettings,
): Promise<ImageInfo> {
  const task = new ContaineringTask({ ...settings.containering, packagingTask });
  return makeContainer(task, {
    docker,
    ...(settings.workDir === undefined ? {} : { workDir: settings.workDir }),
    ...(settings.cacheDir === undefined ? {} : { cacheDir: settings.cacheDir }),
    ...(settings.onProgress === undefined ? {} : { onProgress: settings.onProgress }),
  });
}
