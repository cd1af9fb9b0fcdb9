import { useEffect } from 'react';

/**
 * Consumes an engine event stream once, for the life of the component: each event goes to
 * `dispatch` as it arrives, then `onDone` is called once the stream ends (with the error if it
 * threw). The live views (bench table, tune dashboard) share it.
 */
export function useEventStream<E>(events: AsyncIterable<E>, dispatch: (ev: E) => void, onDone?: (error?: unknown) => void): void {
  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        for await (const ev of events) {
          if (cancelled) break;
          dispatch(ev);
        }
        onDone?.();
      } catch (e) {
        onDone?.(e);
      }
    })();
    return () => {
      cancelled = true;
    };
    // the stream is consumed once, for the life of the component
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
}
