/** An event stream a test releases by hand: `push` events, then `end` it (live-view tests). */
export function controlledStream<E>() {
  const queue: E[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  async function* events(): AsyncGenerator<E> {
    for (;;) {
      while (queue.length) yield queue.shift()!;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  }
  return {
    events: events(),
    push(...evs: E[]) {
      queue.push(...evs);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}
