/**
 * Command-line helpers shared by the benchmark entry points.
 *
 * @module
 */

/**
 * Parses an integer flag value.
 *
 * @param name The flag, for the message.
 * @param value The raw value (`undefined` when the flag was last).
 * @param min The smallest allowed value.
 * @returns The integer.
 * @throws {RangeError} When the value is missing, not an integer or below `min`.
 */
export function intArg(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || value === "" || !Number.isInteger(n) || n < min) {
    throw new RangeError(`${name}: expected integer >= ${min}`);
  }
  return n;
}

/**
 * Parses a file flag value.
 *
 * @param name The flag, for the message.
 * @param value The raw value.
 * @returns The path.
 * @throws {RangeError} When the value is missing or empty.
 */
export function fileArg(name: string, value: string | undefined): string {
  if (value === undefined || value === "") throw new RangeError(`${name}: expected a file`);
  return value;
}

/** The keys of `C` whose values are numbers. */
export type NumberKeys<C> = { [K in keyof C]: C[K] extends number ? K : never }[keyof C];

/**
 * Applies a whole-number flag (at least 1) named in `fields` to `config`: the one place the
 * count flags of every benchmark (`--runs`, `--workers`, `--rounds`, ...) are parsed.
 *
 * @param config The configuration to set.
 * @param fields Flag name to the config field it sets.
 * @param arg The flag being parsed.
 * @param next Returns the flag's value (consuming it).
 * @returns `true` when `arg` was one of `fields` (and its value was applied).
 * @throws {RangeError} When the value is missing or not an integer >= 1.
 */
export function countFlag<C>(
  config: C,
  fields: Readonly<Record<string, NumberKeys<C>>>,
  arg: string | undefined,
  next: () => string | undefined,
): boolean {
  const field = arg === undefined ? undefined : fields[arg];
  if (field === undefined) return false;
  (config as Record<NumberKeys<C>, number>)[field] = intArg(arg!, next(), 1);
  return true;
}
