import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import picomatch from 'picomatch';
import SSHConfig, { LineType, type Line } from 'ssh-config';
import { SshConfigError } from './errors.js';

/**
 * The user's OpenSSH client config (`~/.ssh/config`): `Host` sections (aliases, patterns, `!`
 * negations) parsed by the `ssh-config` package, `Include` expanded here (the package leaves it as
 * a directive), and the few keys Ferry honours read out of the first-match-wins result.
 */

/** What ssh_config says about one host alias (values as written: tokens not yet expanded). */
export interface SshConfigEntry {
  readonly hostName?: string;
  readonly port?: number;
  readonly user?: string;
  readonly identityFiles: readonly string[];
  readonly identitiesOnly?: boolean;
  readonly proxyJump?: string;
  /** The first UserKnownHostsFile (Ferry reads one known_hosts file). */
  readonly userKnownHostsFile?: string;
  /** The name to look the host key up by in known_hosts instead of the host name. */
  readonly hostKeyAlias?: string;
}

/** OpenSSH's limit on nested Include files. */
const MAX_INCLUDE_DEPTH = 16;

/**
 * Reads and parses an ssh_config file with its Includes. A missing file is no config (undefined)
 * when `missingIsFine` (the default path); an unreadable one is an error naming it.
 */
export async function loadSshConfig(
  file: string,
  missingIsFine: boolean,
): Promise<SSHConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (missingIsFine && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SshConfigError(`cannot read ssh_config file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const config = SSHConfig.parse(text);
  await expandIncludes(config, path.dirname(file), 0, file);
  return config;
}

/**
 * Replaces each `Include` line by the lines of the files it names. An Include inside a `Host`
 * section puts the included file's own leading directives in that section; the included file's
 * `Host` sections are placed right after it (OpenSSH would also require the outer section to
 * match; Includes are usually at the top of the file, where both agree).
 */
async function expandIncludes(
  lines: Line[],
  baseDir: string,
  depth: number,
  file: string,
): Promise<void> {
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line.type !== LineType.DIRECTIVE) continue;
    if ('config' in line) {
      const hoisted = await expandSectionIncludes(line.config, baseDir, depth, file);
      lines.splice(index + 1, 0, ...hoisted);
      index += hoisted.length;
      continue;
    }
    if (line.param.toLowerCase() !== 'include') continue;
    const included = await includedLines(line, baseDir, depth, file);
    lines.splice(index, 1, ...included);
    index += included.length - 1;
  }
}

/** Expands the Includes inside one section; returns the included sections, to put after it. */
async function expandSectionIncludes(
  lines: Line[],
  baseDir: string,
  depth: number,
  file: string,
): Promise<Line[]> {
  const hoisted: Line[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line.type !== LineType.DIRECTIVE || line.param.toLowerCase() !== 'include') continue;
    const included = await includedLines(line, baseDir, depth, file);
    const firstSection = included.findIndex((l) => l.type === LineType.DIRECTIVE && 'config' in l);
    const own = firstSection === -1 ? included : included.slice(0, firstSection);
    if (firstSection !== -1) hoisted.push(...included.slice(firstSection));
    lines.splice(index, 1, ...own);
    index += own.length - 1;
  }
  return hoisted;
}

/** The parsed, expanded lines of the files one Include line names. */
async function includedLines(
  line: Line & { readonly type: LineType.DIRECTIVE },
  baseDir: string,
  depth: number,
  file: string,
): Promise<Line[]> {
  if (depth >= MAX_INCLUDE_DEPTH) {
    throw new SshConfigError(
      `${file}: Include nested more than ${MAX_INCLUDE_DEPTH} deep (an Include loop?)`,
    );
  }
  const value = (line as { value: string | { val: string }[] }).value;
  const patterns = typeof value === 'string' ? value.split(/\s+/) : value.map((v) => v.val);
  const included: Line[] = [];
  for (const pattern of patterns) {
    for (const target of await includedFiles(expandHome(pattern), baseDir)) {
      const text = await readFile(target, 'utf8').catch((error: unknown) => {
        throw new SshConfigError(
          `cannot read ${target} (Include in ${file}): ${(error as Error).message}`,
          { cause: error },
        );
      });
      const parsed = SSHConfig.parse(text);
      await expandIncludes(parsed, baseDir, depth + 1, target);
      included.push(...parsed);
    }
  }
  return included;
}

/** The files an Include pattern names: relative to the config's folder, `*`/`?` in the last part. */
async function includedFiles(pattern: string, baseDir: string): Promise<string[]> {
  const absolute = path.resolve(baseDir, pattern);
  const dir = path.dirname(absolute);
  const base = path.basename(absolute);
  if (!/[*?[]/.test(base)) return [absolute];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    // A glob over a folder that does not exist includes nothing, as in OpenSSH.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const matches = picomatch(base, { dot: false });
  return names
    .filter((name) => matches(name))
    .sort()
    .map((name) => path.join(dir, name));
}

function expandHome(value: string): string {
  return value === '~' || value.startsWith('~/') ? path.join(os.homedir(), value.slice(1)) : value;
}

/** What the config says about `alias` (first value wins, IdentityFile accumulates, as in OpenSSH). */
export function lookupSshConfig(config: SSHConfig, alias: string, file: string): SshConfigEntry {
  // matchExec: false — Ferry does not run commands from a config file (`Match exec`).
  const computed = config.compute(alias, { ignoreCase: true, matchExec: false });
  const one = (key: string): string | undefined => {
    const value = computed[key];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value[0] : value;
  };
  const where = `${file} (Host ${alias})`;
  const portText = one('port');
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      throw new SshConfigError(
        `${where}: Port ${JSON.stringify(portText)} is not a port number 1-65535`,
      );
    }
  }
  const identitiesOnly = one('identitiesonly');
  const identityFiles = computed.identityfile;
  const hostName = one('hostname');
  if (hostName !== undefined && !/^[^\s@/]+$/.test(hostName)) {
    throw new SshConfigError(`${where}: HostName ${JSON.stringify(hostName)} is not a host name`);
  }
  const user = one('user');
  const proxyJump = one('proxyjump');
  const userKnownHostsFile = one('userknownhostsfile');
  const hostKeyAlias = one('hostkeyalias');
  if (hostKeyAlias !== undefined && !/^[^\s@/]+$/.test(hostKeyAlias)) {
    throw new SshConfigError(
      `${where}: HostKeyAlias ${JSON.stringify(hostKeyAlias)} is not a host name`,
    );
  }
  return {
    ...(hostName === undefined ? {} : { hostName }),
    ...(port === undefined ? {} : { port }),
    ...(user === undefined ? {} : { user }),
    identityFiles:
      identityFiles === undefined
        ? []
        : Array.isArray(identityFiles)
          ? identityFiles
          : [identityFiles],
    ...(identitiesOnly === undefined
      ? {}
      : { identitiesOnly: identitiesOnly.toLowerCase() === 'yes' }),
    ...(proxyJump === undefined ? {} : { proxyJump }),
    ...(userKnownHostsFile === undefined ? {} : { userKnownHostsFile }),
    ...(hostKeyAlias === undefined ? {} : { hostKeyAlias }),
  };
}

export interface TokenValues {
  /** The host name connected to (after HostName). */
  readonly host: string;
  /** The alias as given. */
  readonly alias: string;
  readonly port: number;
  readonly remoteUser: string;
  readonly localUser: string;
  readonly home: string;
}

/** Expands `~` and the `%h %n %p %r %u %d %%` tokens of IdentityFile (ssh_config TOKENS). */
export function expandTokens(value: string, tokens: TokenValues, where: string): string {
  const replaced = value.replace(/%(.)/g, (_match, token: string) => {
    switch (token) {
      case '%':
        return '%';
      case 'h':
        return tokens.host;
      case 'n':
        return tokens.alias;
      case 'p':
        return String(tokens.port);
      case 'r':
        return tokens.remoteUser;
      case 'u':
        return tokens.localUser;
      case 'd':
        return tokens.home;
      default:
        throw new SshConfigError(
          `${where}: ${JSON.stringify(value)} uses the token %${token}, which Ferry does not expand (it knows %h %n %p %r %u %d %%)`,
        );
    }
  });
  return replaced === '~' || replaced.startsWith('~/')
    ? path.join(tokens.home, replaced.slice(1))
    : replaced;
}

/** One hop of a ProxyJump list: `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
export interface JumpSpec {
  readonly alias: string;
  readonly user?: string;
  readonly port?: number;
}

/** Parses a ProxyJump value; `none` is no jump. */
export function parseProxyJump(value: string, where: string): JumpSpec[] {
  if (value.trim().toLowerCase() === 'none') return [];
  return value.split(',').map((raw) => {
    const spec = raw.trim().replace(/^ssh:\/\//, '');
    const match = /^(?:([^@\s:/]+)@)?(\[[^\]\s]+\]|[^@\s:/[\]]+)(?::(\d{1,5}))?$/.exec(spec);
    const port = match?.[3] === undefined ? undefined : Number(match[3]);
    if (match === null || (port !== undefined && (port < 1 || port > 65535))) {
      throw new SshConfigError(
        `${where}: ProxyJump entry ${JSON.stringify(raw)} is not [user@]host[:port]`,
      );
    }
    const alias = match[2]!.replace(/^\[(.*)\]$/, '$1');
    return {
      alias,
      ...(match[1] === undefined ? {} : { user: match[1] }),
      ...(port === undefined ? {} : { port }),
    };
  });
}
