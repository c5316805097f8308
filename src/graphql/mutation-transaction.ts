import type pg from "pg";
import { makeWithPgClientViaPgClientAlreadyInTransaction, type NodePostgresPgClient } from "postgraphile/adaptors/pg";
import type { WithPgClient } from "postgraphile/@dataplan/pg";
import { GraphQLError, OperationTypeNode, type ExecutionResult } from "postgraphile/graphql";
import type { SessionLiveness } from "../auth/session-liveness.ts";
import { fenceCommitted, openingFor, TENANT_ID_SETTING } from "../db/transaction.ts";
import { openWithNextQuery } from "../db/patches/transaction-opening.ts";
import { capacityOf, connectFor } from "../db/tenant-pool.ts";
import { FairLine } from "../admission/fair-line.ts";
import { busy, rolledBack } from "../errors.ts";
import { SERVICE_MUTATIONS } from "./auth-plugin.ts";
import { rootOf } from "./operation-root.ts";

/** The context keys @dataplan/pg reads: the transaction's settings, and how a step gets a connection. */
interface PgContext {
  pgSettings?: Record<string, string>;
  withPgClient: WithPgClient<NodePostgresPgClient>;
}

/** What a field that came after a failed statement is told: it never ran (its request rolls back). */
class NotRun extends Error {}

/**
 * A request's mutation fields commit together or not at all (Hasura's contract): one connection,
 * one transaction opened by the request's first statement with its settings and session check,
 * written with that statement (openingStatement, openWithNextQuery), every statement of every field (and of their payloads' reads) on it, then
 * one COMMIT. If any field fails, the whole request rolls back: every field it holds answers null,
 * the failing field's error keeps its code, and each other field it holds gets ROLLED_BACK. After a
 * statement fails, the fields after it do not run (the transaction is aborted anyway).
 *
 * The auth service's mutations (SERVICE_MUTATIONS: register, login, logout, the e-mailed links…)
 * keep their own transactions, as their REST twins do: an operation made of them alone opens none
 * here (a sign-in does not hold a connection while bcrypt works). Mixed with other fields, their
 * effects and answers stay even when the request rolls back. Subscriptions and queries are unchanged.
 *
 * A document that mixes them with held fields takes a second connection (the service's) while its
 * transaction holds one: such documents run at most one fewer at once than the pool has
 * connections, so that they never hold every connection while each waits for another (20 at
 * once stalled the whole API until the connect timeout). They wait for their turn in a fair line
 * (src/admission/fair-line.ts) weighed by tenant; the server's line bounds how many wait.
 *
 * @dataplan/pg's makeWithPgClientViaPgClientAlreadyInTransaction runs every step's statements on
 * the one connection, one at a time; given no settings, it adds no savepoint and no set_config
 * (the opening set them).
 */
export function mutationTransactionPlugin(pool: pg.Pool, liveness?: SessionLiveness): GraphileConfig.Plugin {
  const mixed = new FairLine({ active: Math.max(1, capacityOf(pool) - 1), waiting: Number.POSITIVE_INFINITY });
  return {
    name: "StoflowMutationTransactionPlugin",
    version: "1.0.0",
    description: "A GraphQL request's mutation fields in one transaction: all commit, or none",
    grafast: {
      middleware: {
        execute(next, { args }) {
          const root = rootOf(args.document, args.operationName);
          const fields = root?.type === OperationTypeNode.MUTATION ? [...root.fields] : [];
          // Response keys of the fields the transaction holds (the auth service's keep their own).
          const held = new Set(fields.filter(([, field]) => !SERVICE_MUTATIONS.has(field)).map(([key]) => key));
          if (held.size === 0) return next();
          const context = args.contextValue as PgContext;
          const run = () => inOneTransaction(pool, liveness, context, next as () => Promise<ExecutionResult>, held);
          if (held.size === fields.length) return run();
          return mixed.run(context.pgSettings?.[TENANT_ID_SETTING] ?? "anonymous", run, busy);
        },
      },
    },
  };
}

/** Runs `execute` with every statement of `context` in one transaction on a connection of `pool`: committed when the result has no error. */
async function inOneTransaction(
  pool: pg.Pool,
  liveness: SessionLiveness | undefined,
  context: PgContext,
  execute: () => Promise<ExecutionResult>,
  held: ReadonlySet<string>,
): Promise<ExecutionResult> {
  const transaction = openedOnFirstUse(pool, context.pgSettings ?? {}, liveness);
  context.withPgClient = transaction.withPgClient;
  try {
    const result = await execute().catch(async (error: unknown) => {
      await transaction.end("rollback");
      throw error;
    });
    if (result.errors?.length) {
      await transaction.end("rollback");
      return undone(result, held);
    }
    const broken = await transaction.end("commit");
    fenceCommitted(pool, context.pgSettings ?? {}); // it may have revoked sessions (a member deactivated, a role lowered…)
    return broken ? { errors: [new GraphQLError(broken.message, { originalError: broken })] } : result;
  } finally {
    transaction.release();
  }
}

/**
 * One transaction, opened by the first statement of a request (so no connection is held while
 * the document is planned, nor for fields that never reach the database), every statement on it
 * one at a time, without settings (the opening applied them), and every statement after one
 * failed refused (the transaction is aborted anyway). A refused opening (a dead session) is the
 * first field's error.
 */
function openedOnFirstUse(pool: pg.Pool, settings: Record<string, string>, liveness: SessionLiveness | undefined) {
  let client: pg.PoolClient | undefined;
  let opened: Promise<WithPgClient<NodePostgresPgClient>> | undefined;
  let failed = false;
  let broken: Error | undefined;
  const open = async () => {
    client = await connectFor(pool, settings);
    await openWithNextQuery(client, openingFor(settings), liveness);
    return makeWithPgClientViaPgClientAlreadyInTransaction(client, true);
  };
  const withPgClient: WithPgClient<NodePostgresPgClient> = (_settings, callback) => {
    if (failed) return Promise.reject(new NotRun());
    opened ??= open();
    return opened
      .then((inTransaction) => inTransaction(null, callback))
      .catch((error: unknown) => {
        failed = true;
        throw error;
      });
  };
  withPgClient.release = () => {};
  return {
    withPgClient,
    /** Commits or rolls back what was opened; the error that broke the connection, if any. */
    async end(statement: "commit" | "rollback"): Promise<Error | undefined> {
      if (client) await client.query(statement).catch((error: Error) => (broken = error));
      return broken;
    },
    release: () => client?.release(broken),
  };
}

/** The result of a request rolled back: every `held` field null, the errors that caused it, ROLLED_BACK for every other held field. */
function undone(result: ExecutionResult, held: ReadonlySet<string>): ExecutionResult {
  const errors = result.errors!.filter((error) => !(error.originalError instanceof NotRun));
  // grafast writes `data` as JSON text (outputDataAsString); it is null when a non-null field failed.
  const asText = typeof result.data === "string";
  const data = asText ? (JSON.parse(result.data as unknown as string) as Record<string, unknown> | null) : result.data;
  if (!data) return { ...result, errors };
  const failed = new Set(errors.map((error) => error.path?.[0]));
  const undoneKeys = Object.keys(data).filter((key) => held.has(key) && !failed.has(key));
  const after = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, held.has(key) ? null : value]));
  return {
    ...result,
    data: asText ? (JSON.stringify(after) as unknown as ExecutionResult["data"]) : after,
    errors: [
      ...errors,
      ...undoneKeys.map((key) => {
        const cause = rolledBack();
        return new GraphQLError(cause.message, { path: [key], originalError: cause });
      }),
    ],
  };
}
