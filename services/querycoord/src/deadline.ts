import { KiteError } from '@kite/common';

/** `p`, or a retriable DeadlineExceeded naming `what` once `ms` pass (the work itself is not cancelled). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KiteError('DeadlineExceeded', `${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
