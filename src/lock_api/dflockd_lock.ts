/**
 * The {@linkcode Lock} that a dflockd-backed `tryAcquire` hands out: a non-blocking acquire
 * (`l key 0 ttl`) on the client's shared connection, run by the same lease engine as
 * `DistributedLock`. Without renewal the lease simply runs out after its TTL. Internal.
 *
 * @module
 */

import { LeaseHolder, leaseOps } from "../client/_lease_holder.ts";
import type { ClientCore } from "../client/core.ts";
import { resolveLeaseSettings, wholeSeconds } from "../client/options.ts";
import { validateKey } from "../protocol/encode.ts";
import type { Lock } from "./types.ts";

/** How `tryAcquire` treats leases. */
export interface TryAcquireMode {
  /** Keep the lease alive until release instead of letting it run out. */
  readonly renew: boolean;
  /** With `renew`, the fraction of the lease after which it is renewed. */
  readonly renewRatio: number;
}

class DflockdLock implements Lock {
  readonly type = "lock" as const;
  readonly key: string;
  readonly token: string;
  readonly #holder: LeaseHolder;
  readonly #onDone: ((lock: DflockdLock) => void) | undefined;

  constructor(holder: LeaseHolder, onDone: ((lock: DflockdLock) => void) | undefined) {
    this.#holder = holder;
    this.key = holder.key;
    this.token = holder.token!;
    this.#onDone = onDone;
  }

  async release(): Promise<void> {
    try {
      await this.#holder.release(undefined);
    } finally {
      this.#onDone?.(this);
    }
  }

  /** Gives the lock up without waiting (the client or API is closing). */
  abandon(): Promise<void> {
    this.#onDone?.(this);
    return this.#holder.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/** A lock handed out by {@linkcode tryAcquireOn}. */
export type AbandonableLock = Lock & { abandon(): Promise<void> };

/**
 * Takes the lock on `key` without waiting, with a lease of `ttlS` seconds.
 *
 * @returns The lock, or `undefined` when the key is held.
 * @throws {TypeError} On a malformed key or a non-number TTL.
 * @throws {RangeError} On a TTL below 1 s or a key longer than 256 bytes.
 */
export async function tryAcquireOn(
  core: ClientCore,
  key: string,
  ttlS: number,
  mode: TryAcquireMode,
  onDone?: (lock: AbandonableLock) => void,
): Promise<AbandonableLock | undefined> {
  validateKey(key);
  const leaseTtlS = wholeSeconds(ttlS, "ttlS", 1);
  const settings = resolveLeaseSettings(key, {
    acquireTimeoutS: 0,
    leaseTtlS,
    renewRatio: mode.renewRatio,
  });
  const holder = new LeaseHolder(core, settings, leaseOps(settings), { renew: mode.renew });
  if (!await holder.acquire(undefined)) return undefined;
  return new DflockdLock(holder, onDone as ((lock: DflockdLock) => void) | undefined);
}
