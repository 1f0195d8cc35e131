/**
 * Counts the Docker API calls a dockerode client makes (by wrapping its modem's `dial`, which
 * every call goes through), the SSH channels its agent opens, and the serial steps among the
 * calls: a call that starts while no other is in flight waits for everything before it, so the
 * number of such calls is the number of round trips the critical path cannot overlap.
 */
import type Dockerode from 'dockerode';
import { SshUnixSocketAgent } from '../../src/ssh/index.js';

export interface ApiCallCounts {
  readonly requests: number;
  readonly channels: number;
  readonly serialSteps: number;
  /** `METHOD path` of each call, in order (for reading what the path is made of). */
  readonly calls: readonly string[];
}

export interface ApiCallCounter {
  reset(): void;
  snapshot(): ApiCallCounts;
}

type Dial = (options: { method?: string; path?: string }, callback: unknown) => unknown;

export function countApiCalls(docker: Dockerode): ApiCallCounter {
  const modem = docker.modem as unknown as { dial: Dial; agent?: unknown };
  const agent = modem.agent instanceof SshUnixSocketAgent ? modem.agent : undefined;
  let calls: string[] = [];
  let serialSteps = 0;
  let inFlight = 0;
  let channelsAtReset = agent?.channelsOpened ?? 0;
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    calls.push(`${options.method ?? 'GET'} ${(options.path ?? '').replace(/\?.*$/, '')}`);
    if (inFlight === 0) serialSteps += 1;
    inFlight += 1;
    let done = false;
    return dial(options, (...args: unknown[]) => {
      if (!done) {
        done = true;
        inFlight -= 1;
      }
      (callback as (...a: unknown[]) => void)(...args);
    });
  };
  return {
    reset: () => {
      calls = [];
      serialSteps = 0;
      channelsAtReset = agent?.channelsOpened ?? 0;
    },
    snapshot: () => ({
      requests: calls.length,
      channels: (agent?.channelsOpened ?? 0) - channelsAtReset,
      serialSteps,
      calls: [...calls],
    }),
  };
}
