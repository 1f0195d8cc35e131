import packageJson from '../package.json' with { type: 'json' };

/** The version of Ferry that made a package; recorded in every manifest. */
export const ferryVersion: string = packageJson.version;

/** The Node versions a package made by this Ferry needs to load. */
export const nodeRange: string = packageJson.engines.node;
