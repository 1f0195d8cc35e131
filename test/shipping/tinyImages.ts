/**
 * Small images for shipping tests: `FROM <base>` plus one COPY layer per file, built on the local
 * engine from an in-memory context. Each test gives its own contents, so layers are its own.
 */
import type Dockerode from 'dockerode';
import { contextTarStream, fileFromBytes } from '../../src/containering/contextTar.js';
import { runImageBuild } from '../../src/containering/imageBuild.js';
import { engineStatus } from '../../src/engines/dockerApi.js';

export interface TinyImageFile {
  readonly name: string;
  readonly contents: string | Buffer;
}

/** Builds `reference` from `base` with one `COPY <name> /data/<name>` layer per file, in order. */
export async function buildTinyImage(
  docker: Dockerode,
  reference: string,
  base: string,
  files: readonly TinyImageFile[],
  labels: Readonly<Record<string, string>> = {},
): Promise<Dockerode.ImageInspectInfo> {
  const labelLines = Object.entries(labels).map(
    ([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`,
  );
  const dockerfile = [
    `FROM ${base}`,
    ...files.map((f) => `COPY ${f.name} /data/${f.name}`),
    ...labelLines,
    '',
  ].join('\n');
  await runImageBuild(
    docker,
    contextTarStream([
      fileFromBytes('Dockerfile', dockerfile),
      ...files.map((f) => fileFromBytes(f.name, f.contents)),
    ]),
    { reference },
  );
  return docker.getImage(reference).inspect();
}

/** Removes an image by reference or id, ignoring one that is not there. */
export async function removeImage(docker: Dockerode, image: string): Promise<void> {
  try {
    await docker.getImage(image).remove({ force: true });
  } catch (error) {
    if (engineStatus(error) !== 404) throw error;
  }
}

/** Whether the engine has an image with this reference or id. */
export async function hasImage(docker: Dockerode, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (error) {
    if (engineStatus(error) === 404) return false;
    throw error;
  }
}

/** Runs `node -e <script>` in the image on that engine and returns its stdout. */
export async function runNode(docker: Dockerode, image: string, script: string): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['node', '-e', script],
    Tty: true,
    HostConfig: { AutoRemove: false },
  });
  try {
    await container.start();
    await container.wait();
    const logs: unknown = await container.logs({ stdout: true, stderr: true });
    // docker-modem parses a body that happens to be JSON (e.g. a bare number) into a value.
    if (Buffer.isBuffer(logs)) return logs.toString('utf8');
    return typeof logs === 'string' ? logs : JSON.stringify(logs);
  } finally {
    await container.remove({ force: true });
  }
}
