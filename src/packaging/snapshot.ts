/**
 * A job as it was at one moment, kept with the package serializer: what a routine delivers to every
 * place it runs. Serializing refuses what a package would refuse (functions, handles, private
 * `#fields` without the hook), so a job that cannot be delivered is found out when the snapshot is
 * taken. Classes are recorded by identity in a table of this process (no module is looked up or
 * imported), so a copy's instances are of the caller's own classes and no constructor runs.
 */
import { SnapshotError } from './errors.js';
import { deserialize, serialize, type SerializedPayload } from './serialization/index.js';

/** Stands for a class of the snapshot's own table; never a module path a package could hold. */
const IN_PROCESS = '\0snapshot';

/** A value frozen in serialized form; `copy()` rebuilds it, a new object graph each time. */
export interface Snapshot<T> {
  copy(): T;
}

/** Takes the snapshot now; throws `NotSerializableError` naming the path of what cannot travel. */
export function snapshotJob<T>(value: T, rootName = 'job'): Snapshot<T> {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- classes of any constructor signature
  const classes: Function[] = [];
  const payload: SerializedPayload = serialize(value, {
    rootName,
    identifyClass: (constructor) => {
      let index = classes.indexOf(constructor);
      if (index === -1) index = classes.push(constructor) - 1;
      return { module: IN_PROCESS, exportName: String(index) };
    },
  });
  return {
    copy: () =>
      deserialize(payload, {
        resolveClass: (reference) => {
          const constructor =
            reference.module === IN_PROCESS ? classes[Number(reference.exportName)] : undefined;
          if (constructor === undefined) {
            throw new SnapshotError(
              `${reference.module}#${reference.exportName} is not in the snapshot's class table`,
            );
          }
          return constructor;
        },
      }) as T,
  };
}
