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

interface MessageRow {
  table_name: string;
  constraint_name: string | null;
  column_name: string | null;
  field: string;
  message: string;
}

/**
 * The messages of `app_private.constraint_messages()`, read once: error masking is synchronous, so
 * it cannot ask the database. When the database did not answer at start, the next violation asks
 * again (and is answered generically meanwhile).
 */
export class ConstraintMessages {
  readonly #pool: pg.Pool;
  readonly #messages = new Map<string, FieldError>();
  #loading: Promise<void> | undefined;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Reads the messages; resolves even when the database does not answer. */
  load(): Promise<void> {
    this.#loading ??= this.#pool.query<MessageRow>("select * from app_private.constraint_messages()").then((result) => {
      for (const row of result.rows) {
        this.#messages.set(row.column_name ? `${row.table_name}.${row.column_name}` : `${row.table_name}/${row.constraint_name}`, row);
      }
    }, () => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /** The field and message of an integrity violation (class 23), or undefined for any other error. */
  of(error: ConstraintViolation): FieldError | undefined {
    if (!error.code?.startsWith("23") || !error.table) return undefined;
    if (this.#messages.size === 0) void this.load();
    // A not-null violation is known by its column, the others by their constraint (or unique index).
    const known = this.#messages.get(error.code === NOT_NULL ? `${error.table}.${error.column}` : `${error.table}/${error.constraint}`);
    return known && { field: known.field, message: known.message };
  }
}

const NOT_NULL = "23502";
