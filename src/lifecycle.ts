/** Readiness: starting until the worker pool is up, ready, then draining once shutdown begins. */
export type LifecycleState = 'starting' | 'ready' | 'draining';

export class Lifecycle {
  state: LifecycleState = 'starting';

  markReady(): void {
    if (this.state === 'starting') this.state = 'ready';
  }

  startDraining(): void {
    this.state = 'draining';
  }
}
