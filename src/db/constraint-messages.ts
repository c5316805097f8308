import type pg from "pg";

/** What a client is told about a refused value: the input field at fault, and why. */
export interface FieldError {
  field: string;
  message: string;
}

/** The parts of a PostgreSQL error that say which constraint refused the row. */
interface ConstraintViolation {
  code?: string;
  table?: string;
  constraint?: string;
  column?: string;
}

const INTEGRITY_VIOLATION = "23";
const NOT_NULL = "23502";

/**
 * The message of each refusal, read from the database when it happens
 * (`app_private.constraint_message`: the comment beside the constraint, or a row of
 * app_private.constraint_messages), so a message a migration adds applies at once, without a
 * restart. Error masking is synchronous: `lookUp` runs after execution, before the errors are
 * masked, and `of` then answers from what it found.
 *
 * No cache: one lookup costs about as much as checking whether a cache is still current would
 * (a catalog read; refusals are rare next to the writes that succeed), and a cache would need the
 * catalog's changes to reach every server.
 */
export class ConstraintMessages {
  readonly #pool: pg.Pool;
  readonly #found = new WeakMap<object, FieldError>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Whether `error` is an integrity violation (class 23) whose message `lookUp` would read. */
  static refuses = (error: unknown): error is ConstraintViolation & object => {
    const violation = error as ConstraintViolation | null | undefined;
    return Boolean(violation?.code?.startsWith(INTEGRITY_VIOLATION) && violation.table);
  };

  /** Reads the message of each violation in `errors`; a database that does not answer leaves them generic. */
  async lookUp(errors: readonly unknown[]): Promise<void> {
    await Promise.all(
      errors.filter(ConstraintMessages.refuses).map(async (error) => {
        const {
          rows: [found],
        } = await this.#pool
          .query<FieldError>(
            "select field, message from app_private.constraint_message($1, $2, $3)",
            // A not-null violation is known by its column, the others by their constraint (or unique index).
            [error.table, error.code === NOT_NULL ? null : (error.constraint ?? null), error.column ?? null],
          )
          .catch(() => ({ rows: [] as FieldError[] }));
        if (found) this.#found.set(error, found);
      }),
    );
  }

  /** The field and message `lookUp` found for this violation, or undefined for any other error. */
  of(error: object): FieldError | undefined {
    return this.#found.get(error);
  }
}
