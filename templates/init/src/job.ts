import { Greeting } from './greeting.js';

/** A run's parameters: JSON values given at run time (`ferry run --param name=Ada`). */
type RunParameters = { readonly [key: string]: unknown };

/**
 * The job Ferry delivers: an instance of a class exported from a module under the source root.
 * Its fields (here a Greeting and a count) are configured where you create it and travel with it;
 * per-run values come as the parameters `run()` receives.
 */
export class ExampleJob {
  private stopping = false;

  constructor(
    readonly greeting: Greeting,
    readonly repeat: number,
  ) {}

  async run(parameters: RunParameters = {}): Promise<void> {
    const name = typeof parameters.name === 'string' ? parameters.name : 'world';
    for (let i = 0; i < this.repeat; i++) console.log(this.greeting.render(name));
    const seconds = Number(parameters.sleep ?? 0);
    for (let waited = 0; waited < seconds * 10 && !this.stopping; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (parameters.fail === true) throw new Error('failing as asked (parameter fail=true)');
    console.log(`result: ${JSON.stringify(parameters)}`);
  }

  /** Called on `ferry stop` (SIGTERM in a container, Ctrl-C attached): end early. */
  stop(): void {
    this.stopping = true;
  }
}

/** What ferry.config.json's `job` names: called by the CLI to create the job object. */
export function createJob(): ExampleJob {
  return new ExampleJob(new Greeting('Hello'), 1);
}
