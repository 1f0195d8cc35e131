import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { SshError } from './errors.js';
import { fingerprintOf } from './hostKeys.js';

/**
 * What Ferry offers a server to authenticate, in order: the given key, ssh_config's IdentityFiles,
 * the ssh-agent, a password; the default `~/.ssh/id_*` keys only when nothing else was given.
 */

const { utils } = ssh2;

export interface Credential {
  /** What is offered, for messages, e.g. `key /home/me/.ssh/id_ed25519 (ssh-ed25519 SHA256:…)`. */
  readonly description: string;
  readonly method:
    | { readonly type: 'publickey'; readonly key: ParsedKey }
    | { readonly type: 'agent'; readonly agent: string }
    | { readonly type: 'password'; readonly password: string };
}

export interface CredentialSources {
  readonly privateKey?: string | Buffer;
  readonly privateKeyPath?: string;
  readonly passphrase?: string;
  readonly password?: string;
  /** An agent socket, `false` for none; undefined: `SSH_AUTH_SOCK` (unless identitiesOnly). */
  readonly agent?: string | false;
  /** ssh_config IdentityFile entries (paths already expanded). A missing one is skipped, as ssh does. */
  readonly identityFiles?: readonly string[];
  /** ssh_config IdentitiesOnly: the agent is used only when given explicitly. */
  readonly identitiesOnly?: boolean;
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export async function loadCredentials(
  sources: CredentialSources,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential[]> {
  const credentials: Credential[] = [];
  if (sources.privateKey !== undefined) {
    credentials.push(keyCredential(sources.privateKey, 'the given privateKey', sources.passphrase));
  }
  if (sources.privateKeyPath !== undefined) {
    const file = path.resolve(sources.privateKeyPath);
    credentials.push(keyCredential(await readKeyFile(file), `key ${file}`, sources.passphrase));
  }
  for (const file of sources.identityFiles ?? []) {
    const credential = await optionalKeyCredential(file, sources.passphrase);
    if (credential !== undefined) credentials.push(credential);
  }
  const agent =
    sources.agent !== undefined
      ? sources.agent
      : sources.identitiesOnly === true
        ? false
        : env.SSH_AUTH_SOCK;
  if (typeof agent === 'string' && agent !== '') {
    credentials.push({ description: `ssh-agent (${agent})`, method: { type: 'agent', agent } });
  }
  if (sources.password !== undefined) {
    credentials.push({
      description: 'a password',
      method: { type: 'password', password: sources.password },
    });
  }
  const explicit =
    sources.privateKey !== undefined ||
    sources.privateKeyPath !== undefined ||
    (sources.identityFiles ?? []).length > 0;
  if (!explicit && credentials.length === 0) {
    for (const name of DEFAULT_IDENTITIES) {
      const credential = await optionalKeyCredential(
        path.join(os.homedir(), '.ssh', name),
        sources.passphrase,
      );
      if (credential !== undefined) credentials.push(credential);
    }
  }
  return credentials;
}

async function readKeyFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new SshError(`cannot read privateKeyPath ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A key file that may be absent or encrypted without a passphrase: then it is skipped, as ssh would (it would prompt). */
async function optionalKeyCredential(
  file: string,
  passphrase: string | undefined,
): Promise<Credential | undefined> {
  if (!existsSync(file)) return undefined;
  const parsed = utils.parseKey(await readFile(file), passphrase);
  if (parsed instanceof Error) return undefined;
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  return { description: describeKey(`key ${file}`, key), method: { type: 'publickey', key } };
}

function keyCredential(
  text: string | Buffer,
  where: string,
  passphrase: string | undefined,
): Credential {
  const parsed = utils.parseKey(text, passphrase);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    throw new SshError(
      encrypted
        ? `${where} is encrypted: pass its passphrase (passphrase option), or use ssh-agent`
        : `${where} is not a private key Ferry can read: ${parsed.message}`,
      { cause: parsed },
    );
  }
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (key.getPrivatePEM() === null && !key.isPrivateKey?.()) {
    throw new SshError(`${where} holds a public key; give the private key`);
  }
  return { description: describeKey(where, key), method: { type: 'publickey', key } };
}

function describeKey(where: string, key: ParsedKey): string {
  const blob = key.getPublicSSH();
  return `${where} (${key.type} ${fingerprintOf(Buffer.isBuffer(blob) ? blob : Buffer.from(blob))})`;
}
