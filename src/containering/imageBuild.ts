import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';
import { engineMessage, engineStatus, toDockerUnavailable } from '../engines/dockerApi.js';
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
  readonly onOutput?: (output: BuildOutputLine) => void;
}

/**
 * Sends a build context (a tar stream) to the engine's classic builder and reads its progress. The
 * step that fails becomes an `ImageBuildError` with that step's output; returns the image id.
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
  const onEvent = (event: BuildEvent): void => {
    if (event.error !== undefined || event.errorDetail !== undefined) {
      const detail = event.errorDetail?.message ?? event.error ?? 'unknown error';
      failure ??= new ImageBuildError(step, explain(step, detail), stepOutput.join('\n'));
      return;
    }
    if (typeof event.stream === 'string') {
      for (const line of event.stream.split('\n'))
        if (line.trim() !== '') onLine(line.replace(/\r$/, ''));
    }
    if (typeof event.status === 'string') onLine(event.status);
    const id = event.aux?.ID;
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
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
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
  if (step !== undefined && / : RUN /i.test(step) && /"\/bin\/sh": stat/.test(detail)) {
    return `${detail.trim()} (the base image has no /bin/sh, so RUN steps cannot work on it; Ferry's own Dockerfile needs none)`;
  }
  return detail;
}
