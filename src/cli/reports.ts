/** How the CLI shows what executors report: packaging, builds, connecting, shipping, starting. */
import type { ExecutorProgress, PreparedImage } from '../routines/docker/dockerExecutor.js';
import { formatBytes } from '../units.js';
import type { CliContext } from './context.js';

/** Reports an executor's progress on the context's progress display. */
export function reportProgress(context: CliContext): (progress: ExecutorProgress) => void {
  return (progress) => {
    if (progress.stage === 'delivered') {
      reportShipment(context, progress.message, progress.prepared);
      return;
    }
    if (progress.stage === 'ship') {
      // The shipping message states its own byte count.
      context.progress.report({
        stage: 'shipping',
        message: progress.shipping.message,
        important: progress.shipping.phase !== 'transfer',
      });
      return;
    }
    context.progress.report({
      stage: progress.stage === 'connect' ? 'ssh' : progress.stage,
      message: progress.message,
      important: progress.stage !== 'build' || /^Step \d+\/\d+/.test(progress.message),
    });
  };
}

/** One line on how the image reached its target: `<image> on <target>: <how>`. */
function reportShipment(context: CliContext, where: string, prepared: PreparedImage): void {
  const shipped = prepared.shipped;
  if (shipped === undefined) return;
  const how =
    shipped.method === 'present'
      ? 'already there'
      : shipped.method === 'registry'
        ? `through ${shipped.registryReference}`
        : `${shipped.layersSent} of ${shipped.layersTotal} layers, ${formatBytes(shipped.bytesSent)} over SSH`;
  context.progress.report({
    stage: 'shipping',
    message: `${where}: ${how}`,
    important: true,
  });
}
