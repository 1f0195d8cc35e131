import type Dockerode from 'dockerode';
import { engineMessage } from '../../engines/dockerApi.js';
import {
  RegistryError,
  registryReference,
  splitReference,
  type RegistryAuth,
} from '../../shipping/index.js';

interface PushEvent {
  readonly aux?: { readonly Digest?: string };
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
}

/**
 * Pushes a local image to `repository` (`registry:5000/team`) and gives it by digest
 * (`registry:5000/team/<name>@sha256:…`): what every node pulls, so a tag moved meanwhile cannot
 * change what a run starts from. Credentials travel in the API's auth header only.
 */
export async function pushByDigest(
  docker: Dockerode,
  image: string,
  repository: string,
  auth?: RegistryAuth,
): Promise<string> {
  const reference = registryReference(repository, image);
  const { name, tag } = splitReference(reference);
  const events: PushEvent[] = [];
  try {
    await docker.getImage(image).tag({ repo: name, tag });
    const stream = await docker
      .getImage(reference)
      .push(
        {},
        undefined,
        (auth === undefined
          ? {}
          : { ...auth, serveraddress: auth.serveraddress ?? repository.split('/')[0] }) as never,
      );
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(
        stream,
        (error) => (error === null ? resolve() : reject(error)),
        (event: PushEvent) => events.push(event),
      ),
    );
  } catch (error) {
    throw new RegistryError('push', reference, engineMessage(error), { cause: error });
  }
  const failed = events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
  if (failed !== undefined) {
    throw new RegistryError('push', reference, failed.errorDetail?.message ?? failed.error ?? '?');
  }
  const digest = events.find((e) => e.aux?.Digest !== undefined)?.aux?.Digest;
  if (digest === undefined || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new RegistryError('push', reference, 'the registry answered with no digest');
  }
  return `${name}@${digest}`;
}
