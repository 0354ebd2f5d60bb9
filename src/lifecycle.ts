/** Readiness: starting until the worker pool is up, ready, then draining once shutdown begins. */
export type LifecycleState = 'starting' | 'ready' | 'draining';

export class Lifecycle {
  state: LifecycleState = 'starting';
  /**
   * Requests whose body has been read and that are being handled (preValidation until the answer is
   * sent or the client leaves). Shutdown waits for these; a connection still uploading a body is
   * not among them.
   */
  readonly accepted = new Set<object>();

  markReady(): void {
    if (this.state === 'starting') this.state = 'ready';
  }

  startDraining(): void {
    this.state = 'draining';
  }
}
