import path from 'node:path';
import { getTarget, loadConfig, loadJob } from '../config/loadConfig.js';
import type { FerryConfig, TargetConfig } from '../config/schema.js';
import { InternalError } from '../errors.js';
import { RecordStore } from '../records/store.js';
import type { Job } from '../routines/job.js';
import type { LineEnding, LogStream, TargetExecutor } from '../routines/jobExecutor.js';
import { Progress, type CliStreams } from './output.js';
import { checkTargetEnvironment, checkTargetFiles } from './preflight.js';
import { reportProgress } from './reports.js';

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
  private loadedJob: Job | undefined;
  private recordStore: RecordStore | undefined;
  private readonly executors = new Map<string, TargetExecutor>();

  constructor(
    readonly io: CliEnvironment,
    readonly flags: GlobalFlags,
    interrupted: AbortSignal,
  ) {
    this.progress = new Progress(io.stderr, !flags.quiet, io.stdout);
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
    this.progress.out(line);
  }

  /** Writes a line of a run's output, as the progress renderer shows it (see `Progress.logLine`). */
  logLine(line: string, stream: LogStream, ending?: LineEnding): Promise<unknown> | undefined {
    return this.progress.logLine(this.io, line, stream, ending);
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

  /** The project's run records (bad files are skipped with a warning). */
  async records(): Promise<RecordStore> {
    this.recordStore ??= new RecordStore(path.join((await this.config()).workDir, 'runs'), (m) =>
      this.note(`ferry: warning: ${m}`),
    );
    return this.recordStore;
  }

  /**
   * The job object, as the config's `job` module creates it (imported once). With the target a run
   * is to start on, the variables that target passes to its runs are checked first (named by their
   * config key when one is not set).
   */
  async job(forTarget?: string): Promise<Job> {
    if (forTarget !== undefined) {
      const config = await this.config();
      checkTargetEnvironment(config, getTarget(config, forTarget), this.io.env);
    }
    this.jobPromise ??= this.config().then((config) => {
      this.progress.report({
        stage: 'job',
        message: `loading ${path.relative(config.root, config.job.module)}#${config.job.export}`,
      });
      return loadJob(config);
    });
    return this.jobPromise.then((job) => {
      this.loadedJob = job;
      return job;
    });
  }

  /**
   * The executor of a target (default: the config's default target), made once per command and
   * closed by `close()`. Its job is the one `job()` loads: call that before starting a run.
   */
  async executor(target?: string | TargetConfig): Promise<TargetExecutor> {
    const config = await this.config();
    const resolved = typeof target === 'object' ? target : getTarget(config, target);
    let executor = this.executors.get(resolved.name);
    if (executor === undefined) {
      await checkTargetFiles(config, resolved);
      // Loaded on first use: dockerode and ssh2 are most of a command's start-up (`ferry ls`).
      const { createExecutor } = await import('../config/targets.js');
      executor = createExecutor(config, resolved, {
        job: () => {
          if (this.loadedJob === undefined) {
            throw new InternalError(
              'a run was started before the job was loaded (call job() first)',
            );
          }
          return this.loadedJob;
        },
        env: this.io.env,
        records: await this.records(),
        onProgress: reportProgress(this),
        onWarning: (message) => this.note(`ferry: warning: ${message}`),
      });
      this.executors.set(resolved.name, executor);
    }
    return executor;
  }

  /** Closes every executor's connection. Runs go on. */
  async close(): Promise<void> {
    const executors = [...this.executors.values()];
    this.executors.clear();
    await Promise.all(executors.map((e) => e.close()));
  }
}
