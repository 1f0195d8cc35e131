import path from 'node:path';
import { getTarget, loadConfig, loadJob } from '../config/loadConfig.js';
import type { DockerTargetConfig, FerryConfig, TargetConfig } from '../config/schema.js';
import type { TargetEngine } from '../config/engines.js';
import { RecordStore } from '../records/store.js';
import type { Job } from '../routines/job.js';
import { Progress, type CliStreams } from './output.js';

/** How many commands are listening for Ctrl-C now; without one, the first Ctrl-C exits at once. */
let interruptListeners = 0;

/** Whether a running command handles Ctrl-C itself (stopping or detaching cleanly). */
export function interruptIsHandled(): boolean {
  return interruptListeners > 0;
}

export interface CliEnvironment extends CliStreams {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface GlobalFlags {
  readonly config?: string;
  readonly quiet: boolean;
}

/**
 * What a command works with: the streams, the config (read once, on first use), the project's run
 * records, target engines (opened once, closed at the end), and an abort signal raised on Ctrl-C.
 */
export class CliContext {
  readonly progress: Progress;
  /** Aborted when the user interrupts (SIGINT). */
  readonly interrupted: AbortSignal;
  private configPromise: Promise<FerryConfig> | undefined;
  private jobPromise: Promise<Job> | undefined;
  private readonly engines = new Map<string, Promise<TargetEngine>>();

  constructor(
    readonly io: CliEnvironment,
    readonly flags: GlobalFlags,
    interrupted: AbortSignal,
  ) {
    this.progress = new Progress(io.stderr, !flags.quiet);
    this.interrupted = interrupted;
  }

  get stdout(): CliStreams['stdout'] {
    return this.io.stdout;
  }

  /**
   * Calls `listener` on Ctrl-C while registered; the returned function unregisters it. While one is
   * registered, the first Ctrl-C is the command's to handle (a second one exits at once).
   */
  onInterrupt(listener: () => void): () => void {
    if (this.interrupted.aborted) {
      listener();
      return () => undefined;
    }
    interruptListeners += 1;
    this.interrupted.addEventListener('abort', listener, { once: true });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      interruptListeners -= 1;
      this.interrupted.removeEventListener('abort', listener);
    };
  }

  /** Writes a line to stdout (a command's result). */
  out(line: string): void {
    this.progress.clear();
    this.io.stdout.write(`${line}\n`);
  }

  /** Writes a line to stderr (a note for the user, not a result). */
  note(line: string): void {
    this.progress.note(line);
  }

  config(): Promise<FerryConfig> {
    this.configPromise ??= loadConfig({
      cwd: this.io.cwd,
      ...(this.flags.config === undefined ? {} : { file: this.flags.config }),
    });
    return this.configPromise;
  }

  async target(name?: string): Promise<TargetConfig> {
    return getTarget(await this.config(), name);
  }

  async records(): Promise<RecordStore> {
    return new RecordStore(path.join((await this.config()).workDir, 'runs'));
  }

  /** The job object, as the config's `job` module creates it (imported once). */
  job(): Promise<Job> {
    this.jobPromise ??= this.config().then((config) => {
      this.progress.report({
        stage: 'job',
        message: `loading ${path.relative(config.root, config.job.module)}#${config.job.export}`,
      });
      return loadJob(config);
    });
    return this.jobPromise;
  }

  /** The engine of a Docker target, opened on first use and closed by `close()`. */
  engine(target: DockerTargetConfig): Promise<TargetEngine> {
    let engine = this.engines.get(target.name);
    if (engine === undefined) {
      if (target.type === 'remote') {
        this.progress.report({
          stage: 'ssh',
          message: `connecting to ${target.user ?? ''}${target.user ? '@' : ''}${target.host}:${target.port}`,
        });
      }
      // Loaded on first use: dockerode and ssh2 are most of a command's start-up (`ferry ls`).
      engine = import('../config/engines.js').then(({ openEngine }) =>
        openEngine(target, {
          env: this.io.env,
          onWarning: (message) => this.note(`ferry: warning: ${message}`),
        }),
      );
      engine.catch(() => this.engines.delete(target.name));
      this.engines.set(target.name, engine);
    }
    return engine;
  }

  /** Closes every engine connection. */
  async close(): Promise<void> {
    const engines = [...this.engines.values()];
    this.engines.clear();
    await Promise.all(
      engines.map((e) =>
        e.then(
          (engine) => engine.close(),
          () => undefined,
        ),
      ),
    );
  }
}
