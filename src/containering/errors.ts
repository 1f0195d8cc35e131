import { EnvironmentError, InputError } from '../errors.js';

/** A ContaineringTask field is missing or malformed. */
export class InvalidContaineringTaskError extends InputError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`ContaineringTask.${field}: ${message}`);
  }
}

/** A template could not be rendered: it uses a variable Ferry does not define, or is not valid Handlebars. */
export class TemplateRenderError extends InputError {
  constructor(
    /** Which template: a file path, or a name such as `Dockerfile template (task.dockerfileTemplate)`. */
    readonly template: string,
    /** The variable the template asked for and did not get, when that is the cause. */
    readonly variable: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${template}: ${message}`, options);
  }
}

/** `npm install` of the dependencies the bundle left external failed on the host. */
export class DependencyInstallError extends EnvironmentError {
  constructor(
    message: string,
    /** What npm printed. */
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super(output.trim() === '' ? message : `${message}\n${indent(output.trim())}`, options);
  }
}

/** The Docker engine refused or failed a build; carries the step that failed and what it printed. */
export class ImageBuildError extends EnvironmentError {
  constructor(
    /** The failing step as Docker names it, e.g. `Step 5/8 : COPY missing /app/`, when known. */
    readonly step: string | undefined,
    /** Docker's error message. */
    readonly detail: string,
    /** What the failing step printed before it failed. */
    readonly output: string,
  ) {
    const where =
      step === undefined ? 'the image build failed' : `the image build failed at ${step}`;
    const printed = output.trim() === '' ? '' : `\nstep output:\n${indent(output.trim())}`;
    super(`${where}: ${detail.trim()}${printed}`);
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/** The build context could not be assembled: an unsafe or duplicate path, or a file that changed while it was sent. */
export class BuildContextError extends InputError {}

export class RuntimeBundleError extends EnvironmentError {}

/** The image platform asked for is not one Ferry builds for, or not the one the target engine runs. */
export class ImagePlatformError extends InputError {}

/**
 * The configured dependency install mode cannot work for this job and image: a native addon to be
 * built on a host of another platform, or an in-image install on a base image without npm.
 */
export class DependencyModeError extends InputError {}
