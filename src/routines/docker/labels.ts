/** Labels on every container Ferry starts (docs/design.md §10), so a run is found again by id. */
export const RUN_LABELS = {
  job: 'ferry.job',
  version: 'ferry.version',
  uid: 'ferry.uid',
  runId: 'ferry.run-id',
} as const;

export interface RunIdentity {
  /** Package (job) name. */
  readonly name: string;
  readonly version: string;
  readonly uid: string;
  readonly runId: string;
}

export function runLabels(run: RunIdentity): Record<string, string> {
  return {
    [RUN_LABELS.job]: run.name,
    [RUN_LABELS.version]: run.version,
    [RUN_LABELS.uid]: run.uid,
    [RUN_LABELS.runId]: run.runId,
  };
}

/** A run container's labels: the caller's extra labels, then Ferry's own, which win. */
export function runContainerLabels(
  manifest: Omit<RunIdentity, 'runId'>,
  runId: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const { name, version, uid } = manifest;
  return { ...extra, ...runLabels({ name, version, uid, runId }) };
}

/** `ferry-<job>-<runId>`, with what a container name cannot hold replaced by `-`. */
export function containerName(jobName: string, runId: string): string {
  return `ferry-${jobName}-${runId}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** A Docker `filters` value selecting containers by label. */
export function labelFilter(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
}
