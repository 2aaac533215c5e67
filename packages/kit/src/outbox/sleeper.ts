/**
 * A sleep that can be cut short: `wake()` ends a wakeable sleep early (or makes the next one
 * return at once), `cancel()` ends every sleep for good (shutdown).
 */
export function createSleeper() {
  let pending = false;
  let cancelled = false;
  let wakeable = true;
  let timer: NodeJS.Timeout | undefined;
  let resolveSleep: (() => void) | null = null;

  const finish = () => {
    clearTimeout(timer);
    const resolve = resolveSleep;
    resolveSleep = null;
    resolve?.();
  };

  return {
    wake(): void {
      if (resolveSleep && wakeable) finish();
      else pending = true;
    },
    /** Forget wake-ups seen so far: called right before looking for work. */
    clear(): void {
      pending = false;
    },
    cancel(): void {
      cancelled = true;
      finish();
    },
    sleep(ms: number, canWake = true): Promise<void> {
      if (cancelled) return Promise.resolve();
      if (canWake && pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        wakeable = canWake;
        resolveSleep = resolve;
        timer = setTimeout(finish, ms);
      });
    },
  };
}

/** Exponential backoff: base, 2·base, 4·base, … capped at max. */
export const backoffMs = (failures: number, base: number, max: number): number => Math.min(max, base * 2 ** Math.min(failures - 1, 20));

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
