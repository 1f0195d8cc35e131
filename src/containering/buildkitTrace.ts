/**
 * Reads BuildKit's progress as the engine's build API sends it: `moby.buildkit.trace` events whose
 * `aux` is a base64 `moby.buildkit.v1.StatusResponse` protobuf. Only what a build's messages need is
 * read: the steps (vertexes) with their names and errors, and the lines they printed.
 */

/** One decoded trace message. */
export interface BuildKitStatus {
  readonly vertexes: readonly {
    readonly digest: string;
    readonly name: string;
    readonly error: string;
    readonly completed: boolean;
    readonly cached: boolean;
  }[];
  readonly logs: readonly { readonly vertex: string; readonly text: string }[];
}

/** Decodes the base64 `aux` of a `moby.buildkit.trace` event. */
export function decodeBuildKitTrace(base64: string): BuildKitStatus {
  const vertexes: {
    digest: string;
    name: string;
    error: string;
    completed: boolean;
    cached: boolean;
  }[] = [];
  const logs: { vertex: string; text: string }[] = [];
  for (const field of fields(Buffer.from(base64, 'base64'))) {
    if (field.number === 1 && field.bytes !== undefined) {
      const vertex = { digest: '', name: '', error: '', completed: false, cached: false };
      for (const inner of fields(field.bytes)) {
        if (inner.number === 1) vertex.digest = text(inner.bytes);
        else if (inner.number === 3) vertex.name = text(inner.bytes);
        else if (inner.number === 4) vertex.cached = inner.varint === 1;
        else if (inner.number === 6) vertex.completed = true;
        else if (inner.number === 7) vertex.error = text(inner.bytes);
      }
      vertexes.push(vertex);
    } else if (field.number === 3 && field.bytes !== undefined) {
      const log = { vertex: '', text: '' };
      for (const inner of fields(field.bytes)) {
        if (inner.number === 1) log.vertex = text(inner.bytes);
        else if (inner.number === 4) log.text = text(inner.bytes);
      }
      logs.push(log);
    }
  }
  return { vertexes, logs };
}

interface WireField {
  readonly number: number;
  readonly varint?: number;
  readonly bytes?: Buffer;
}

/** The top-level fields of a protobuf message (wire types 0, 1, 2 and 5). */
function* fields(buffer: Buffer): Generator<WireField> {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= buffer.length) throw new RangeError('truncated BuildKit trace message');
      const byte = buffer[at++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
  };
  while (at < buffer.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) yield { number, varint: varint() };
    else if (wire === 2) {
      const length = varint();
      if (at + length > buffer.length) throw new RangeError('truncated BuildKit trace message');
      yield { number, bytes: buffer.subarray(at, at + length) };
      at += length;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new RangeError(`BuildKit trace message with wire type ${wire}`);
  }
}

function text(bytes: Buffer | undefined): string {
  return bytes === undefined ? '' : bytes.toString('utf8');
}
