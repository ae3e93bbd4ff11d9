// Types for sockwave-recovery.

/** A Pusher instance (pusher-js ≥ 7), a Laravel Echo instance (pusher or reverb broadcaster),
 * or an Echo connector. */
export type RecoveryTarget =
  | { send_event(name: string, data: unknown, channel?: string): boolean; connection: unknown }
  | { connector: { pusher: unknown } };

/** What the server said when a resume could not replay everything. */
export interface ResumeGap {
  /** `too_old` (events dropped: older than history_max_age or beyond history_max_events),
   * `history_lost` (the history was reset: expired while idle, or a restart),
   * `unknown_position`, or `unavailable` (the history store could not be read). */
  reason: 'too_old' | 'history_lost' | 'unknown_position' | 'unavailable' | string;
  /** A sentence for logs. */
  message: string;
  /** The channel's position now, from which the next resume continues. */
  position?: string;
}

export interface ResumeInfo {
  /** Events replayed (0 for a first subscribe). */
  replayed: number;
  position?: string;
}

/** Something like `sessionStorage` or `localStorage`. */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface RecoveryOptions {
  /** The history did not reach back: refetch this channel's state. Also emitted on the
   * channel as `sockwave:resume_failed` (Echo: `.listen('.sockwave:resume_failed', …)`). */
  onGap?(channel: string, gap: ResumeGap): void;
  /** A subscribe or resume completed; `replayed` missed events arrived before this call. */
  onResumed?(channel: string, info: ResumeInfo): void;
  /** Keep positions across page loads (e.g. `sessionStorage`); memory only by default. */
  storage?: PositionStorage;
  /** Prefix of the storage keys (default `sockwave-recovery`). */
  storageKey?: string;
}

export interface Recovery {
  /** The newest position seen on a channel (`"{epoch}:{seq}"`). */
  position(channel: string): string | undefined;
  /** Stops adding positions to subscribes. */
  disable(): void;
}

/** Starts recovering missed events on every channel; call it before subscribing. Calling it
 * twice on one instance returns the first handle. */
export function enableRecovery(target: RecoveryTarget, options?: RecoveryOptions): Recovery;
