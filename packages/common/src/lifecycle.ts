import type { Logger } from './logger';

/** A component's lifecycle as a guarded state machine: unexpected transitions are refused and logged. */
export type LifecycleState = 'initializing' | 'starting' | 'serving' | 'stopping' | 'stopped';

export class Lifecycle {
  private current: LifecycleState = 'initializing';
  private changedAt = Date.now();

  constructor(private readonly log?: Logger) {}

  get state(): LifecycleState {
    return this.current;
  }

  get since(): number {
    return this.changedAt;
  }

  /** Moves to `to` if the current state is one of `from`; returns whether it moved. */
  transition(from: LifecycleState[], to: LifecycleState): boolean {
    if (!from.includes(this.current)) {
      this.log?.warn({ from: this.current, to }, 'refused lifecycle transition');
      return false;
    }
    this.log?.debug({ from: this.current, to }, 'lifecycle transition');
    this.current = to;
    this.changedAt = Date.now();
    return true;
  }

  is(...states: LifecycleState[]): boolean {
    return states.includes(this.current);
  }
}
