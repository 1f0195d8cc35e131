/**
 * The self-serialization hook.
 *
 * By default an instance of a class is stored as its class reference plus its own enumerable data
 * properties, and rebuilt with `Object.create(Class.prototype)` without calling the constructor. A class
 * takes over when that is not enough: its state lives in private `#fields`, or it holds a handle (a file,
 * a connection, a worker) that must be reopened on the other side.
 *
 * Such a class defines an instance method `[ferrySerialize]()` that returns the state to store (any value
 * the serializer supports, including other instances, cycles excepted: the state must not lead back to the
 * instance itself), and a static method `[ferryDeserialize](state)` that builds the instance from that
 * state. The state's object graph is fully rebuilt before `[ferryDeserialize]` is called.
 *
 * Both keys are registered symbols (`Symbol.for`), so copies of user code loaded from different bundles
 * (docs/design.md §2) share them and need not import them from the same copy of Ferry.
 *
 * @example
 * ```ts
 * import { ferrySerialize, ferryDeserialize } from 'ferry';
 *
 * export class Vocabulary {
 *   readonly #ids: Map<string, number>;
 *   constructor(ids: Map<string, number>) {
 *     this.#ids = ids;
 *   }
 *   idOf(word: string): number | undefined {
 *     return this.#ids.get(word);
 *   }
 *   [ferrySerialize](): unknown {
 *     return { ids: this.#ids };
 *   }
 *   static [ferryDeserialize](state: { ids: Map<string, number> }): Vocabulary {
 *     return new Vocabulary(state.ids);
 *   }
 * }
 * ```
 */
export const ferrySerialize: unique symbol = Symbol.for('ferry.serialize');

/** Key of the static method that rebuilds an instance from the state its `[ferrySerialize]()` returned. */
export const ferryDeserialize: unique symbol = Symbol.for('ferry.deserialize');

/** An instance that stores itself through the hook (see {@link ferrySerialize}). */
export interface FerrySerializable {
  [ferrySerialize](): unknown;
}

/** The static side of a class that uses the hook (see {@link ferrySerialize}). */
export interface FerryDeserializable<Instance = unknown, State = never> {
  [ferryDeserialize](state: State): Instance;
}
