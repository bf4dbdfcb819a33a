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
