import type Dockerode from 'dockerode';
import { engineMessage } from '../engines/dockerApi.js';
import { ImageShippingError, RegistryError } from './errors.js';
import { formatBytes } from '../units.js';
import { throttled, type ShippingProgressListener } from './progress.js';

/**
 * Credentials for a registry, as the Docker API takes them (`X-Registry-Auth`). They travel in a
 * request header to the engines only: never on a command line, in an image, or in a message.
 */
export interface RegistryAuth {
  readonly username?: string;
  readonly password?: string;
  /** A token from `docker login` flows that issue one, instead of a password. */
  readonly identitytoken?: string;
  /** Default: the registry host of the repository. */
  readonly serveraddress?: string;
}

export interface RegistryShipOptions {
  readonly local: Dockerode;
  readonly remote: Dockerode;
  /** Local image reference, `name:tag`. */
  readonly image: string;
  /** Registry address and optional path, e.g. `registry.example.com:5000/team`. */
  readonly repository: string;
  readonly auth?: RegistryAuth;
  readonly target?: string;
  readonly onProgress?: ShippingProgressListener;
}

export interface RegistryShipResult {
  /** Where the image was pushed and pulled from: `<repository>/<name>:<tag>`. */
  readonly registryReference: string;
  readonly imageId: string;
}

/** `<repository>/<last path part of name>:<tag>`. */
export function registryReference(repository: string, image: string): string {
  const { name, tag } = splitReference(image);
  const base = name.split('/').pop() ?? name;
  return `${repository.replace(/\/+$/, '')}/${base}:${tag}`;
}

/** `name` and `tag` of `name:tag` (a registry host's `:port` is not a tag). */
export function splitReference(reference: string): { name: string; tag: string } {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  if (colon > slash) return { name: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { name: reference, tag: 'latest' };
}

/**
 * Tags the local image for the registry, pushes it (with credentials), pulls it on the remote
 * engine and tags it there with the local name too, so both names find it on both engines.
 */
export async function shipThroughRegistry(
  options: RegistryShipOptions,
): Promise<RegistryShipResult> {
  const { local, remote, image } = options;
  const target = options.target ?? 'the remote engine';
  const reference = registryReference(options.repository, image);
  const { name: repo, tag } = splitReference(reference);
  const auth =
    options.auth === undefined ? undefined : withServer(options.auth, options.repository);
  const localImage = await local.getImage(image).inspect();

  await local.getImage(image).tag({ repo, tag });
  options.onProgress?.({ phase: 'push', message: `Pushing ${reference}` });
  await follow('push', reference, options.onProgress, () =>
    local.getImage(reference).push({}, undefined, (auth ?? {}) as never),
  );

  options.onProgress?.({ phase: 'pull', message: `${target} is pulling ${reference}` });
  // createImage(auth, opts): the credentials go in the X-Registry-Auth header, never the query.
  await follow('pull', reference, options.onProgress, () =>
    (remote.createImage as (auth: object, opts: object) => Promise<NodeJS.ReadableStream>)(
      auth ?? {},
      { fromImage: repo, tag },
    ),
  );
  const pulled = await remote.getImage(reference).inspect();
  if (pulled.Id !== localImage.Id) {
    throw new ImageShippingError(
      `${target} pulled ${reference} as ${pulled.Id}, but the local image is ${localImage.Id}: another push to that tag got in between; run again`,
    );
  }
  const local_ = splitReference(image);
  await remote.getImage(reference).tag({ repo: local_.name, tag: local_.tag });
  options.onProgress?.({
    phase: 'done',
    message: `${image} is on ${target} (through ${options.repository})`,
  });
  return { registryReference: reference, imageId: pulled.Id };
}

function withServer(auth: RegistryAuth, repository: string): RegistryAuth {
  return auth.serveraddress === undefined
    ? { ...auth, serveraddress: repository.split('/')[0] ?? repository }
    : auth;
}

interface ProgressEvent {
  readonly status?: string;
  readonly progress?: string;
  readonly progressDetail?: { readonly current?: number; readonly total?: number };
  readonly id?: string;
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
}

async function follow(
  operation: 'push' | 'pull',
  reference: string,
  onProgress: ShippingProgressListener | undefined,
  start: () => Promise<NodeJS.ReadableStream>,
): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await start();
  } catch (error) {
    throw new RegistryError(operation, reference, engineMessage(error), { cause: error });
  }
  const report = onProgress === undefined ? undefined : throttled(onProgress);
  let pending = '';
  let failure: string | undefined;
  const onLine = (line: string): void => {
    if (!line.trim().startsWith('{')) return;
    const event = JSON.parse(line) as ProgressEvent;
    if (event.error !== undefined || event.errorDetail !== undefined) {
      failure = event.errorDetail?.message ?? event.error;
    } else if (event.status !== undefined) {
      report?.({
        phase: operation,
        // The engine's own progress text counts in decimal units; Ferry writes sizes one way.
        message: [event.id, event.status, progressText(event)]
          .filter((part) => part !== undefined && part !== '')
          .join(' '),
      });
    }
  };
  try {
    for await (const chunk of stream) {
      pending += Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(onLine);
    }
  } catch (error) {
    throw new RegistryError(
      operation,
      reference,
      `the engine stopped answering: ${engineMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  onLine(pending);
  if (failure !== undefined) throw new RegistryError(operation, reference, failure);
}

/** `3.4 MiB of 10 MiB` from an engine's push or pull event, when it counts bytes. */
function progressText(event: ProgressEvent): string | undefined {
  const { current, total } = event.progressDetail ?? {};
  if (typeof current !== 'number') return undefined;
  return typeof total === 'number' && total > 0
    ? `${formatBytes(current)} of ${formatBytes(total)}`
    : formatBytes(current);
}
