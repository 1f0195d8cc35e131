import type Dockerode from 'dockerode';

/** Which containers and images a test or bench made: by label (`ferry.job=<project>`) or reference. */
export interface MadeHere {
  readonly label?: readonly string[];
  readonly reference?: readonly string[];
}

/**
 * Removes, on each engine, the containers and then the images a test or bench made (the test bed
 * is shared: never anything else). An image already gone (404) or still the parent of another
 * being removed (409) is left to the next pass; any other refusal is a failure of the clean-up.
 */
export async function removeMadeHere(engines: readonly Dockerode[], made: MadeHere): Promise<void> {
  for (const engine of engines) {
    if (made.label !== undefined) {
      const filters = JSON.stringify({ label: made.label });
      for (const c of await engine.listContainers({ all: true, filters })) {
        await engine.getContainer(c.Id).remove({ force: true }).catch(unlessGone(404));
      }
    }
    const filters = JSON.stringify({
      ...(made.label === undefined ? {} : { label: made.label }),
      ...(made.reference === undefined ? {} : { reference: made.reference }),
    });
    for (const image of await engine.listImages({ filters })) {
      await engine.getImage(image.Id).remove({ force: true }).catch(unlessGone(404, 409));
    }
  }
}

function unlessGone(...codes: number[]): (error: { statusCode?: number }) => void {
  return (error) => {
    if (error.statusCode === undefined || !codes.includes(error.statusCode)) throw error;
  };
}
