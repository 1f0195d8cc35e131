import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';
import { engineMessage, engineStatus, toDockerUnavailable } from '../engines/dockerApi.js';
import { decodeBuildKitTrace } from './buildkitTrace.js';
import { ImageBuildError } from './errors.js';

/** One line of build output, with the step it belongs to. */
export interface BuildOutputLine {
  /** `Step 3/7 : COPY ferry /app/` as Docker prints it, once the first step started. */
  readonly step: string | undefined;
  readonly line: string;
}

export interface RunBuildOptions {
  /** `name:tag` the image gets. */
  readonly reference: string;
  /** Labels set through the API: each becomes a build step of its own, so prefer a LABEL line. */
  readonly labels?: Readonly<Record<string, string>>;
  /** `linux/amd64` or `linux/arm64`: the platform of the base image to use, and of the image. */
  readonly platform?: string;
  /**
   * Build with BuildKit (the API's builder version 2) rather than the classic builder: what
   * `RUN --mount=type=cache` needs. Only for engines that have it (see `supportsBuildKit`).
   */
  readonly buildkit?: boolean;
  readonly onOutput?: (output: BuildOutputLine) => void;
}

/**
 * Sends a build context (a tar stream) to the engine's classic builder (or BuildKit) and reads its
 * progress. The step that fails becomes an `ImageBuildError` with that step's output; returns the
 * image id.
 */
export async function runImageBuild(
  docker: Dockerode,
  context: Readable,
  options: RunBuildOptions,
): Promise<string> {
  let response: NodeJS.ReadableStream;
  try {
    response = await docker.buildImage(context, {
      t: options.reference,
      ...(options.labels === undefined ? {} : { labels: { ...options.labels } }),
      ...(options.platform === undefined ? {} : { platform: options.platform }),
      ...(options.buildkit === true ? { version: '2' as const } : {}),
      dockerfile: 'Dockerfile',
      rm: true,
      forcerm: true,
    });
  } catch (error) {
    context.destroy();
    const unavailable = toDockerUnavailable(docker, error);
    if (unavailable !== error) throw unavailable;
    throw new ImageBuildError(
      undefined,
      `the engine refused the build${engineStatus(error) === undefined ? '' : ` (HTTP ${engineStatus(error)})`}: ${engineMessage(error)}`,
      '',
    );
  }
  let step: string | undefined;
  let stepOutput: string[] = [];
  let imageId: string | undefined;
  let failure: ImageBuildError | undefined;
  const onLine = (line: string): void => {
    if (/^Step \d+\/\d+ : /.test(line)) {
      step = line;
      stepOutput = [];
    } else {
      stepOutput.push(line);
    }
    options.onOutput?.({ step, line });
  };
  // BuildKit: steps are vertexes, named by digest; their output comes as logs of a vertex.
  const vertexNames = new Map<string, string>();
  const vertexOutput = new Map<string, string[]>();
  let failedVertex: string | undefined;
  const onTrace = (aux: string): void => {
    const status = decodeBuildKitTrace(aux);
    for (const vertex of status.vertexes) {
      if (vertex.name !== '' && !vertexNames.has(vertex.digest)) {
        vertexNames.set(vertex.digest, vertex.name);
        options.onOutput?.({ step: vertex.name, line: vertex.name });
      }
      if (vertex.error !== '') failedVertex ??= vertex.digest;
    }
    for (const log of status.logs) {
      const lines = vertexOutput.get(log.vertex) ?? [];
      vertexOutput.set(log.vertex, lines);
      for (const line of log.text.split('\n')) {
        if (line.trim() === '') continue;
        lines.push(line.replace(/\r$/, ''));
        options.onOutput?.({ step: vertexNames.get(log.vertex), line });
      }
    }
  };
  const onEvent = (event: BuildEvent): void => {
    if (event.error !== undefined || event.errorDetail !== undefined) {
      const detail = event.errorDetail?.message ?? event.error ?? 'unknown error';
      const failedStep =
        failedVertex === undefined ? step : (vertexNames.get(failedVertex) ?? step);
      const output =
        failedVertex === undefined
          ? stepOutput.join('\n')
          : (vertexOutput.get(failedVertex) ?? []).join('\n');
      failure ??= new ImageBuildError(failedStep, explain(failedStep, detail), output);
      return;
    }
    if (event.id === 'moby.buildkit.trace' && typeof event.aux === 'string') {
      onTrace(event.aux);
      return;
    }
    if (typeof event.stream === 'string') {
      for (const line of event.stream.split('\n'))
        if (line.trim() !== '') onLine(line.replace(/\r$/, ''));
    }
    if (typeof event.status === 'string') onLine(event.status);
    const id = typeof event.aux === 'object' ? event.aux.ID : undefined;
    if (typeof id === 'string') imageId = id;
  };
  let pending = '';
  for await (const chunk of response as AsyncIterable<Buffer | string>) {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (text !== '') onEvent(parseEvent(text));
    }
  }
  if (pending.trim() !== '') onEvent(parseEvent(pending.trim()));
  if (failure !== undefined) throw failure;
  if (imageId === undefined) {
    const tagged = /^Successfully built ([0-9a-f]+)$/m.exec(stepOutput.join('\n'));
    if (tagged?.[1] !== undefined) return tagged[1];
    throw new ImageBuildError(
      step,
      'the engine ended the build without naming an image',
      stepOutput.join('\n'),
    );
  }
  return imageId;
}

interface BuildEvent {
  id?: string;
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  /** The image id (classic builder, and BuildKit's `moby.image.id`), or a BuildKit trace. */
  aux?: { ID?: string } | string;
}

function parseEvent(text: string): BuildEvent {
  try {
    return JSON.parse(text) as BuildEvent;
  } catch (error) {
    if (error instanceof SyntaxError) return { stream: text };
    throw error;
  }
}

function explain(step: string | undefined, detail: string): string {
  if (step !== undefined && /^Step 1\/\d+ : FROM /i.test(step)) {
    const image = step.replace(/^Step 1\/\d+ : FROM /i, '').trim();
    return `${detail.trim()} (the base image ${image} is not on this engine and could not be pulled: pull or load it first; here, scripts/testbed.sh up builds it)`;
  }
  if (step !== undefined && /(?: : |\] )RUN /i.test(step) && /"\/bin\/sh": stat/.test(detail)) {
    return `${detail.trim()} (the base image has no /bin/sh, so RUN steps cannot work on it; Ferry's own Dockerfile needs none)`;
  }
  if (/exec format error/i.test(detail)) {
    return `${detail.trim()} (the engine cannot run programs of the image's platform: a RUN step on another architecture needs emulation, e.g. QEMU through binfmt_misc)`;
  }
  return detail;
}
