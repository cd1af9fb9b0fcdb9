/**
 * Live controls for a running Tuner: pause / resume, checkpoint now, evaluate now, quit. A view (the
 * dashboard's keys) calls the methods; the Tuner polls `take()` between optimizer steps and, while
 * paused, awaits `changed()` (no busy loop: the wait is a promise that the next control call or the
 * abort signal resolves).
 *
 * Requests are flags, not a queue: pressing `s` three times during one step still writes one
 * checkpoint after it. Nothing here touches the model; the Tuner only ever acts on a request at a step
 * boundary, with reads (evaluation, checkpoint) that leave the trajectory unchanged.
 */

/** What a view may ask of a running Tuner (the dashboard gets this type only). */
export interface TuneControls {
  pause(): void;
  resume(): void;
  checkpointNow(): void;
  evaluateNow(): void;
  quit(): void;
}

/** The one-shot requests pending at a step boundary. */
export interface ControlRequests {
  checkpoint: boolean;
  evaluate: boolean;
  quit: boolean;
}

export class TunerControl implements TuneControls {
  private pausedFlag = false;
  private wantCheckpoint = false;
  private wantEvaluate = false;
  private wantQuit = false;
  private waiters: (() => void)[] = [];

  get paused(): boolean {
    return this.pausedFlag;
  }

  pause(): void {
    this.pausedFlag = true;
    this.wake();
  }

  resume(): void {
    this.pausedFlag = false;
    this.wake();
  }

  togglePause(): void {
    if (this.pausedFlag) this.resume();
    else this.pause();
  }

  /** Write a checkpoint after the current step (or now, when paused). */
  checkpointNow(): void {
    this.wantCheckpoint = true;
    this.wake();
  }

  /** Run the stage's evaluation after the current step (or now, when paused). */
  evaluateNow(): void {
    this.wantEvaluate = true;
    this.wake();
  }

  /** Checkpoint and stop after the current step, as on Ctrl-C; also ends a pause. */
  quit(): void {
    this.wantQuit = true;
    this.wake();
  }

  /** (Tuner) the pending requests; clears checkpoint and evaluate, quit stays set. */
  take(): ControlRequests {
    const r = { checkpoint: this.wantCheckpoint, evaluate: this.wantEvaluate, quit: this.wantQuit };
    this.wantCheckpoint = false;
    this.wantEvaluate = false;
    return r;
  }

  /** (Tuner) resolves at the next control call, or when `signal` aborts (at once if it has). */
  changed(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
