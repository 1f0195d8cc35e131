/** How shipping an image goes, reported through `onProgress`. */
export interface ShippingProgress {
  readonly phase: 'compare' | 'export' | 'push' | 'pull' | 'transfer' | 'load' | 'done';
  /** One line for a person. Never holds a credential. */
  readonly message: string;
  /** Archive bytes sent to the remote engine so far (direct transfer). */
  readonly bytesSent?: number;
  /** Layers of the image, and how many of them are being sent (the rest the remote already has). */
  readonly layers?: { readonly total: number; readonly toSend: number };
}

export type ShippingProgressListener = (progress: ShippingProgress) => void;

/** Calls `listener` at most every `intervalMs` for the same phase, always for a new phase. */
export function throttled(
  listener: ShippingProgressListener,
  intervalMs = 250,
): ShippingProgressListener {
  let last = 0;
  let lastPhase: ShippingProgress['phase'] | undefined;
  return (progress) => {
    const now = Date.now();
    if (progress.phase === lastPhase && now - last < intervalMs) return;
    last = now;
    lastPhase = progress.phase;
    listener(progress);
  };
}
