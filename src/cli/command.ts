import { parseArgs } from 'node:util';
import type { CliContext } from './context.js';
import { UsageError } from './errors.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Shown in help after the flag: `--target <name>`. */
  readonly value?: string;
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export type ParsedValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface ParsedArgs {
  readonly values: ParsedValues;
  readonly positionals: readonly string[];
}

export interface Command {
  readonly name: string;
  /** One line for `ferry --help`. */
  readonly summary: string;
  /** `ferry run [options]`. */
  readonly usage: string;
  /** Paragraphs after the usage line. */
  readonly description?: string;
  readonly options: OptionSpecs;
  /** Examples shown at the end of the help. */
  readonly examples?: readonly string[];
  /** Most positionals accepted (default 0). */
  readonly maxPositionals?: number;
  readonly minPositionals?: number;
  run(context: CliContext, args: ParsedArgs): Promise<number>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  config: {
    type: 'string',
    short: 'c',
    value: 'file',
    description: 'the config file (default: ferry.config.json here or in a folder above)',
  },
  quiet: { type: 'boolean', short: 'q', description: 'no progress display' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** `--target` on the commands that act on existing runs: where to look for runs without a record here. */
export const RUN_LOOKUP_TARGET_OPTION: OptionSpec = {
  type: 'string',
  short: 't',
  value: 'name',
  description:
    "search this target's engine for runs this project has no record of (started elsewhere)",
};

/** Parses a command's arguments with `node:util` parseArgs; mistakes are `UsageError`s. */
export function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          {
            type: spec.type,
            ...(spec.short === undefined ? {} : { short: spec.short }),
            ...(spec.multiple === undefined ? {} : { multiple: spec.multiple }),
          },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`${command.name}: ${message}`, command.name);
  }
  if (parsed.values.help === true)
    return { values: parsed.values as ParsedValues, positionals: parsed.positionals };
  const max = command.maxPositionals ?? 0;
  const min = command.minPositionals ?? 0;
  if (parsed.positionals.length > max) {
    throw new UsageError(
      `${command.name}: unexpected argument ${JSON.stringify(parsed.positionals[max])}`,
      command.name,
    );
  }
  if (parsed.positionals.length < min) {
    throw new UsageError(
      `${command.name}: missing argument; usage: ${command.usage}`,
      command.name,
    );
  }
  return { values: parsed.values as ParsedValues, positionals: parsed.positionals };
}

/** The help text of a command. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: ${command.usage}`, '', command.summary];
  if (command.description !== undefined) lines.push('', command.description.trim());
  lines.push(
    '',
    'Options:',
    ...renderOptions(command.options),
    '',
    'Global options:',
    ...renderOptions(GLOBAL_OPTIONS),
  );
  if (command.examples !== undefined && command.examples.length > 0) {
    lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  }
  return `${lines.join('\n')}\n`;
}

function renderOptions(options: OptionSpecs): string[] {
  const entries = Object.entries(options);
  if (entries.length === 0) return ['  (none)'];
  const flags = entries.map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.type === 'string' ? ` <${spec.value ?? 'value'}>` : '';
    return `  ${short}--${name}${value}${spec.multiple ? ' ...' : ''}`;
  });
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  return entries.map(([, spec], i) =>
    wrap(spec.description, HELP_WIDTH - width)
      .map((line, j) => (j === 0 ? flags[i]!.padEnd(width) : ' '.repeat(width)) + line)
      .join('\n'),
  );
}

const HELP_WIDTH = 100;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/** Helpers to read typed values. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringsOption(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** A positive whole number flag, or undefined. */
export function intOption(args: ParsedArgs, name: string, command: string): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(
      `${command}: --${name} expects a whole number above 0, got ${JSON.stringify(text)}`,
      command,
    );
  }
  return value;
}
