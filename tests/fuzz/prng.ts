/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32), so a fuzz run is
 * reproducible from its seed alone.
 *
 * @module
 */

/** Deterministic random numbers from a 32-bit seed. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Creates a generator.
   *
   * @param seed Any integer; equal seeds give equal sequences.
   */
  constructor(seed: number) {
    let s = seed >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /**
   * The next raw value.
   *
   * @returns An integer in [0, 2^32).
   */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /**
   * A float in [0, 1).
   *
   * @returns The value.
   */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /**
   * An integer in [0, n).
   *
   * @param n Upper bound (exclusive), > 0.
   * @returns The value.
   */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * An integer in [lo, hi] (both inclusive).
   *
   * @param lo Lower bound.
   * @param hi Upper bound.
   * @returns The value.
   */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /**
   * True with probability p.
   *
   * @param p Probability in [0, 1].
   * @returns The coin flip.
   */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /**
   * One element of a non-empty array.
   *
   * @param items The choices.
   * @returns A uniformly chosen element.
   */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /**
   * A derived generator, so independent streams stay reproducible.
   *
   * @returns A new generator seeded from this one.
   */
  fork(): Prng {
    return new Prng(this.uint32());
  }
}
