import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { flag, stringOption, type Command } from '../command.js';
import { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { UiOptionError } from '../../ui/errors.js';
import { isLoopback } from '../../ui/security.js';

export const DEFAULT_UI_PORT = 7411;

export const uiCommand: Command = {
  name: 'ui',
  summary: "a local web page of the project's runs: live logs, metrics charts, sweeps",
  usage: 'ferry ui [--port <n>] [--host <address>] [--open]',
  description: `
Serves a web page of the project's runs and sweeps (the records, and runs the local targets hold):
their status, parameters, metrics and live logs, a sweep's metric against its parameters, and stop
and remove. It listens on 127.0.0.1 only unless --host names another address; then the printed URL
carries a random token, needed once per browser (kept in a cookie). Stop and remove are POST
requests checked against cross-site use. Ctrl-C stops the server; runs go on.`,
  options: {
    port: {
      type: 'string',
      value: 'n',
      description: `the port (default ${DEFAULT_UI_PORT}; 0: any free port)`,
    },
    host: {
      type: 'string',
      value: 'address',
      description:
        'listen on this address instead of 127.0.0.1 (e.g. 0.0.0.0); the URL then needs its token',
    },
    open: { type: 'boolean', description: 'open the page in the default browser' },
  },
  examples: ['ferry ui', 'ferry ui --open', 'ferry ui --host 0.0.0.0 --port 8080'],
  async run(context, args) {
    const host = stringOption(args, 'host') ?? '127.0.0.1';
    if (host !== 'localhost' && isIP(host) === 0) {
      throw new UiOptionError(
        `ui: --host ${JSON.stringify(host)} is not an IP address; give one of this machine's addresses (0.0.0.0: all of them)`,
      );
    }
    const portText = stringOption(args, 'port');
    const port = portText === undefined ? DEFAULT_UI_PORT : Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UiOptionError(`ui: --port expects 0-65535, got ${JSON.stringify(portText)}`);
    }
    await context.config();
    const { UiApi } = await import('../../ui/api.js');
    const { startUiServer } = await import('../../ui/server.js');
    const { RepeatFilter } = await import('../../ui/repeatFilter.js');
    // The server's own context: notes said once a minute at most (a target that does not answer
    // would say so at every sync), no progress lines between them.
    const serverContext = new CliContext(
      { ...context.io, stderr: new RepeatFilter(context.io.stderr, 60_000) },
      { ...context.flags, quiet: true },
      context.interrupted,
    );
    const api = new UiApi(serverContext);
    const server = await startUiServer(api, { host, port });
    context.out(`ferry ui: ${server.url}`);
    if (!isLoopback(host)) {
      context.note(
        `ferry: ui: listening on ${host}: anyone who can reach it needs the token in that URL; share it only with who may stop and remove runs`,
      );
    }
    if (flag(args, 'open')) openInBrowser(context, server.url);
    await new Promise<void>((resolve) => context.onInterrupt(resolve));
    await server.close();
    await serverContext.close();
    return EXIT.ok;
  },
};

/** Opens `url` with the platform's opener, the URL as one argument (no shell). */
function openInBrowser(context: CliContext, url: string): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['explorer.exe', [url]]
        : ['xdg-open', [url]];
  const child = spawn(command, args, { stdio: 'ignore', detached: true });
  child.on('error', (error) =>
    context.note(`ferry: ui: could not open a browser (${error.message}); open ${url} yourself`),
  );
  child.unref();
}
