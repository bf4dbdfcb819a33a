/**
 * {@linkcode DflockdLockApi}: the {@linkcode LockApi} on a dflockd server. Each lock is a
 * non-blocking acquire (`l key 0 ttl`), so it expires by itself after its TTL unless
 * `renew: true` keeps it alive until release.
 *
 * @module
 */

import { coreForLock } from "../client/core.ts";
import type { ClientCore } from "../client/core.ts";
import { resolveRenewRatio } from "../client/options.ts";
import type { ClientOptions } from "../client/options.ts";
import type { DflockClient } from "../client.ts";
import { DflockError } from "../errors.ts";
import { tryAcquireOn } from "./dflockd_lock.ts";
import type { AbandonableLock } from "./dflockd_lock.ts";
import type { Lock, LockApi } from "./types.ts";

/**
 * Options of {@linkcode DflockdLockApi}: a `client`, or the connection options of one (APIs and
 * locks with the same connection options share one default client), plus renewal.
 */
export interface DflockdLockApiOptions extends ClientOptions {
  /** The client whose connections the API uses (no connection options may be given then). */
  client?: DflockClient;
  /**
   * `true`: keep every lock's lease alive (renewing it after `ttl * renewRatio` seconds) until
   * it is released, instead of letting it expire after its TTL. @default {false}
   */
  renew?: boolean;
  /** With `renew: true`, the fraction of the lease after which it is renewed; 0 < r < 1. @default {0.5} */
  renewRatio?: number;
}

/**
 * The {@linkcode LockApi} on dflockd servers. `tryAcquire(key, ttlS)` takes the lock without
 * waiting (acquire timeout 0) with a lease of `ttlS` seconds, so a lock that is never released
 * expires by itself; it resolves `undefined` when the key is held. With `renew: true` the
 * lease is renewed in the background until release instead.
 *
 * The API runs on a {@linkcode DflockClient}'s pooled connections (the `client` option, or a
 * default client shared per connection configuration): every `tryAcquire` is pipelined on the
 * server's shared connection, which stays open (and is pinged below the server's read
 * timeout) while a lock taken through it may still be held. A {@linkcode DflockClient} is
 * itself a `LockApi` too. {@linkcode DflockdLockApi.close} (or `await using`) gives up the
 * locks still held.
 *
 * @example Process an order once across instances
 * ```ts
 * import { DflockdLockApi } from "@dflock/dflock";
 *
 * await using lockApi = new DflockdLockApi({ servers: ["127.0.0.1:6388"] });
 * const lock = await lockApi.tryAcquire("order:42", 30);
 * if (lock) {
 *   try {
 *     console.log("processing order 42");
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export class DflockdLockApi implements LockApi, AsyncDisposable {
  readonly #core: ClientCore;
  readonly #renew: boolean;
  readonly #renewRatio: number;
  readonly #locks = new Set<AbandonableLock>();
  #closed = false;

  /**
   * Creates the API; nothing connects until the first {@linkcode DflockdLockApi.tryAcquire}.
   *
   * @param options A client or connection options, and renewal.
   * @throws {TypeError} On a malformed server entry or a non-function sharding strategy.
   * @throws {RangeError} On out-of-range ports, ratios, intervals or limits.
   *
   * @example Renew leases until release
   * ```ts
   * const lockApi = new DflockdLockApi({ servers: ["127.0.0.1:6388"], renew: true });
   * ```
   */
  constructor(options: DflockdLockApiOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("options must be an object");
    }
    const { renew, renewRatio, ...connection } = options;
    const ratio = resolveRenewRatio(renewRatio);
    this.#core = coreForLock({ ...connection, key: "_" });
    this.#renew = renew === true;
    this.#renewRatio = ratio;
  }

  /**
   * Takes the lock on `key` without waiting, with a lease of `ttlS` seconds (fractions round
   * up). Follows `error_not_leader` redirects and moves on from draining servers.
   *
   * @param key The key: 1 to 256 UTF-8 bytes without space, tab, CR or LF.
   * @param ttlS Seconds until the lock expires by itself (at least 1).
   * @returns The lock, or `undefined` when the key is held.
   * @throws {ConnectionError} When the key's server cannot be reached.
   * @throws {DflockError} On other server errors (`MaxLocksError`, `AuthError`, ...), or with
   * code `closed` after {@linkcode DflockdLockApi.close}.
   * @throws {TypeError} On a malformed key or a non-number TTL.
   * @throws {RangeError} On a TTL below 1 s or a key longer than 256 bytes.
   *
   * @example Take a lock for 30 seconds
   * ```ts
   * await using lockApi = new DflockdLockApi();
   * const lock = await lockApi.tryAcquire("report:daily", 30);
   * if (lock === undefined) console.log("another instance is on it");
   * ```
   */
  async tryAcquire(key: string, ttlS: number): Promise<Lock | undefined> {
    if (this.#closed) {
      throw new DflockError(
        "The lock API is closed (close() was called): use a new DflockdLockApi",
        "closed",
      );
    }
    const lock = await tryAcquireOn(
      this.#core,
      key,
      ttlS,
      { renew: this.#renew, renewRatio: this.#renewRatio },
      (done) => this.#locks.delete(done),
    );
    if (lock === undefined) return undefined;
    if (this.#closed) {
      await lock.abandon();
      throw new DflockError(
        "The lock API is closed (close() was called): use a new DflockdLockApi",
        "closed",
      );
    }
    this.#locks.add(lock);
    return lock;
  }

  /**
   * Stops renewals and gives up every lock this API still holds (the server frees them).
   * Later `release()` calls on those locks resolve without sending anything; later
   * `tryAcquire` calls throw. The client's connections stay open for its other users; a
   * client of your own is closed with `client.close()`. Idempotent.
   *
   * @returns Resolves once every lock is given up.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const locks = [...this.#locks];
    this.#locks.clear();
    await Promise.all(locks.map((lock) => lock.abandon()));
  }

  /**
   * Closes the API (for `await using`), like {@linkcode DflockdLockApi.close}.
   *
   * @returns Resolves once every lock is given up.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
